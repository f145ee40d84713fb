from __future__ import annotations

import pytest

from core.i18n import t
from core.models import Seller
from core.schemas import RegisterIn
from core.services import accounts
from tests.botkit import BotKit


@pytest.fixture
def kit(database: None) -> BotKit:
    return BotKit()


async def test_start_asks_language_in_telegram_language(kit: BotKit) -> None:
    await kit.send("/start", language="ru")

    call = kit.last("sendMessage")
    assert call.text == t("start.choose_language", "ru")
    assert [d for row in kit.buttons(call) for _, d in row] == [
        "lang:uz:1",
        "lang:ru:1",
        "lang:en:1",
    ]


@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
async def test_new_seller_registers_from_the_bot(kit: BotKit, lang: str) -> None:
    await kit.send("/start", user_id=7, language="en")
    await kit.press(f"lang:{lang}:1", user_id=7)
    welcome = kit.last("editMessageText")
    assert welcome.text == t("start.welcome", lang)

    await kit.press("ob:create", user_id=7)

    seller = await Seller.get(telegram_id=7)
    assert seller.language == lang
    menu = kit.last("sendMessage")
    assert menu.text == t("menu.title", lang, name=seller.full_name)
    assert kit.button_data(menu, t("menu.products", lang)) == "m:products"


async def test_link_existing_account_with_code(kit: BotKit) -> None:
    seller = await accounts.register(RegisterIn(username="webuser", password="long-password"))
    code = await accounts.link_code(seller)

    await kit.send("/start", user_id=9)
    await kit.press("lang:en:1", user_id=9)
    await kit.press("ob:code", user_id=9)
    await kit.send("WRONG123", user_id=9)
    assert kit.last("sendMessage").text == t("start.bad_code", "en")

    await kit.send(code.lower(), user_id=9)

    assert (await Seller.get(id=seller.id)).telegram_id == 9
    texts = [c.text for c in kit.calls("sendMessage")]
    assert t("start.linked", "en", username="webuser") in texts
    # The code is single-use.
    with pytest.raises(Exception, match="unknown or expired"):
        await accounts.link_by_code(code, 10)


async def test_link_with_password_deletes_the_password_message(kit: BotKit) -> None:
    await accounts.register(RegisterIn(username="pwuser", password="long-password"))

    await kit.send("/start", user_id=11)
    await kit.press("lang:ru:1", user_id=11)
    await kit.press("ob:password", user_id=11)
    await kit.send("pwuser", user_id=11)
    await kit.send("wrong-password", user_id=11)
    assert kit.last("sendMessage").text == t("start.bad_password", "ru")
    await kit.send("pwuser", user_id=11)
    await kit.send("long-password", user_id=11)

    assert (await Seller.get(username="pwuser")).telegram_id == 11
    assert len(kit.calls("deleteMessage")) == 2


async def test_known_seller_gets_the_menu(kit: BotKit) -> None:
    await accounts.register_from_telegram(5, "Shop Owner", "uz")
    await kit.send("/start", user_id=5)
    call = kit.last("sendMessage")
    assert call.text == t("menu.title", "uz", name="Shop Owner")


@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
async def test_a_bot_seller_sets_a_password_for_the_web_and_the_api(
    database: None, lang: str
) -> None:
    from core.models import AuditEvent

    kit = BotKit()
    seller = await accounts.register_from_telegram(4004, "Bot Shop", lang)

    await kit.press("m:settings", user_id=4004)
    screen = kit.last("editMessageText")
    assert screen.text == t("start.settings", lang)
    assert kit.button_data(screen, t("start.web_password_button", lang)) == "m:password"
    await kit.press("m:password", user_id=4004)
    assert kit.last("editMessageText").text == t(
        "start.web_password_ask", lang, username=seller.username, min=8
    )

    await kit.send("short", user_id=4004)
    assert kit.last("sendMessage").text == t("start.web_password_bad", lang, min=8, max=128)
    await kit.send("a long web password", user_id=4004)

    assert len(kit.calls("deleteMessage")) == 2  # neither attempt stays in the chat
    texts = [call.text for call in kit.calls("sendMessage")]
    assert t("start.web_password_set", lang, username=seller.username) in texts
    logged_in = await accounts.authenticate(seller.username, "a long web password")
    assert logged_in.id == seller.id
    assert await AuditEvent.filter(action="seller.password_set", seller_id=seller.id).count() == 1

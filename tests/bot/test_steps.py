"""Where a step ends: other screens, commands, and what no handler takes."""

from __future__ import annotations

import pytest

from core.i18n import t
from core.models import Product
from core.schemas import ProductIn
from core.services import accounts, products
from tests.botkit import BotKit

USER = 1001
LANGS = ["uz", "ru", "en"]


@pytest.fixture
def kit(database: None) -> BotKit:
    return BotKit()


async def tea_pot(lang: str = "en") -> Product:
    seller = await accounts.register_from_telegram(USER, "Shop Owner", lang)
    data = {"name": "Tea pot", "sku": "TEA", "price": 250_000, "stock_quantity": 5}
    return await products.create(seller.id, ProductIn.model_validate(data))


@pytest.mark.parametrize("screen", ["m:subscription", "m:settings", "lang:en:0", "m:main"])
async def test_leaving_a_step_for_another_screen_ends_it(kit: BotKit, screen: str) -> None:
    item = await tea_pot()
    await kit.press(f"p:{item.id}:price:1")
    assert "price" in kit.last_text().lower()

    await kit.press(screen)
    kit.clear()
    await kit.send("5")

    assert (await Product.get(id=item.id)).price == 250_000
    assert kit.last("sendMessage").text == t("common.not_understood", "en")


@pytest.mark.parametrize("lang", LANGS)
async def test_a_command_is_never_a_steps_input(kit: BotKit, lang: str) -> None:
    item = await tea_pot(lang)
    await kit.press(f"p:{item.id}:price:1")

    await kit.send("/help")
    assert kit.last("sendMessage").text == t("common.unknown_command", lang)
    await kit.send("7000")

    assert (await Product.get(id=item.id)).price == 250_000  # the step ended with /help


async def test_a_known_command_ends_the_step_and_runs(kit: BotKit) -> None:
    item = await tea_pot()
    await kit.press(f"p:{item.id}:stock:1")

    await kit.send("/menu@SellerCloudXBot")
    menu = kit.last("sendMessage")
    await kit.send("3")

    assert menu.text.startswith(t("menu.title", "en", name="Shop Owner")[:10])
    assert (await Product.get(id=item.id)).stock == 5


@pytest.mark.parametrize("data", ["zzz", "pp:abc", "p:abc:view:1", "cu:send:0:1:"])
async def test_a_button_no_handler_takes_is_answered(kit: BotKit, data: str) -> None:
    await tea_pot()

    await kit.press(data)

    answer = kit.last("answerCallbackQuery")
    assert answer.text == t("common.stale_button", "en")


@pytest.mark.parametrize(("lang", "language"), [("ru", "ru"), ("uz", "uz"), ("en", "en")])
async def test_a_stranger_writing_is_told_to_start(kit: BotKit, lang: str, language: str) -> None:
    await kit.send("привет", user_id=5005, language=language)

    assert kit.last("sendMessage").text == t("start.not_registered", lang)


async def test_a_message_without_text_in_a_text_step_is_answered(kit: BotKit) -> None:
    await kit.press("ob:code", user_id=5005, language="ru")

    await kit.send(None, user_id=5005, language="ru")  # a sticker, a voice note

    assert kit.last("sendMessage").text == t("common.step_expects_text", "ru")


@pytest.mark.parametrize(
    "data",
    ["sub:pay:premium:weekly:click:", "sub:pay:free:monthly:click:", "sub:pay:premium:monthly:x:"],
)
async def test_a_forged_pay_button_is_answered_and_creates_nothing(kit: BotKit, data: str) -> None:
    from core.models import Payment

    await tea_pot("ru")

    await kit.press(data)

    assert kit.last("answerCallbackQuery").text == t("common.stale_button", "ru")
    assert await Payment.all().count() == 0


async def test_a_forged_order_list_button_is_answered_in_the_sellers_language(
    kit: BotKit,
) -> None:
    await tea_pot("ru")

    await kit.press("ol:bogus:1")

    assert kit.last("answerCallbackQuery").text == t("common.stale_button", "ru")

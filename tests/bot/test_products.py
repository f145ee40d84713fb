from __future__ import annotations

import pytest

from bot.states import ProductAdd
from core.i18n import t
from core.models import Product, Seller
from core.schemas import ProductIn
from core.services import accounts, products
from tests.botkit import BotKit

USER = 1001
LANGS = ["uz", "ru", "en"]


@pytest.fixture
def kit(database: None) -> BotKit:
    return BotKit()


async def seller(lang: str = "en", user_id: int = USER) -> Seller:
    return await accounts.register_from_telegram(user_id, "Shop Owner", lang)


async def product(seller_id: int, sku: str = "SKU-1", **extra: object) -> Product:
    data = {"name": "Tea pot", "sku": sku, "price": 250_000, "stock_quantity": 5, **extra}
    return await products.create(seller_id, ProductIn.model_validate(data))


def flat(kit: BotKit, call: object) -> list[tuple[str, str | None]]:
    return [button for row in kit.buttons(call) for button in row]


def step(lang: str, number: int, ask: str) -> str:
    return t("products.step", lang, step=number, steps=6) + "\n\n" + t(f"products.{ask}", lang)


def card(lang: str, p: Product, notice: str | None = None, photos: int = 0) -> str:
    price = {"uz": "so'm", "ru": "сум", "en": "UZS"}[lang]
    text = t(
        "products.card",
        lang,
        name=p.name,
        sku=p.sku,
        price=f"{p.price:,} {price}".replace(",", "," if lang == "en" else " "),
        stock=p.stock,
        category=p.category or "—",
        photos=photos,
    )
    return f"{t(notice, lang)}\n\n{text}" if notice else text


def alert(kit: BotKit) -> tuple[str, bool]:
    answer = kit.last("answerCallbackQuery")
    return answer.text, bool(answer.show_alert)


# --- the list -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_menu_opens_an_empty_catalog(kit: BotKit, lang: str) -> None:
    await seller(lang)

    await kit.press("m:products")

    screen = kit.last("editMessageText")
    assert screen.text == t("products.list_empty", lang)
    assert flat(kit, screen) == [
        (t("products.add", lang), "pa:new"),
        (t("menu.back", lang), "m:main"),
    ]


@pytest.mark.parametrize(
    ("lang", "label"),
    [
        ("uz", "Tea pot 9 · 1 250 009 so'm"),
        ("ru", "Tea pot 9 · 1 250 009 сум"),
        ("en", "Tea pot 9 · 1,250,009 UZS"),
    ],
)
async def test_list_is_paginated_newest_first(kit: BotKit, lang: str, label: str) -> None:
    owner = await seller(lang)
    made = [
        await product(owner.id, f"S{i}", name=f"Tea pot {i}", price=1_250_000 + i)
        for i in range(10)
    ]

    await kit.press("m:products")

    first = kit.last("editMessageText")
    title = t("products.list_title", lang, total=10)
    assert first.text == f"{title}\n{t('products.page', lang, page=1, pages=2)}"
    buttons = flat(kit, first)
    assert buttons[0] == (label, f"p:{made[9].id}:view:1")
    assert [data for _, data in buttons[:8]] == [f"p:{p.id}:view:1" for p in made[:1:-1]]
    assert buttons[8:] == [
        ("▶", "pp:2"),
        (t("products.add", lang), "pa:new"),
        (t("menu.back", lang), "m:main"),
    ]

    await kit.press("pp:2")

    second = kit.last("editMessageText")
    assert second.text == f"{title}\n{t('products.page', lang, page=2, pages=2)}"
    assert [data for _, data in flat(kit, second)[:3]] == [
        f"p:{made[1].id}:view:2",
        f"p:{made[0].id}:view:2",
        "pp:1",
    ]
    assert flat(kit, second)[2][0] == "◀"


async def test_a_page_past_the_end_shows_the_last_page(kit: BotKit) -> None:
    owner = await seller()
    await product(owner.id)

    await kit.press("pp:7")

    assert kit.last("editMessageText").text == t("products.list_title", "en", total=1)


# --- the card -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_card_shows_the_product_with_its_actions(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    p = await product(owner.id, category="Kitchen", description="Clay & <glaze>")

    await kit.press(f"p:{p.id}:view:3")

    screen = kit.last("editMessageText")
    assert screen.text == card(lang, p) + "\n\nClay &amp; &lt;glaze&gt;"
    assert kit.buttons(screen) == [
        [
            (t("products.edit_price", lang), f"p:{p.id}:price:3"),
            (t("products.edit_stock", lang), f"p:{p.id}:stock:3"),
        ],
        [
            (t("products.add_photo", lang), f"p:{p.id}:photo:3"),
            (t("products.delete", lang), f"p:{p.id}:delete:3"),
        ],
        [(t("products.back_to_list", lang), "pp:3")],
    ]


async def test_a_product_with_a_photo_is_shown_as_a_photo(kit: BotKit) -> None:
    owner = await seller()
    p = await product(owner.id, photos=[products.telegram_photo("FILE-1")])

    await kit.press(f"p:{p.id}:view:1")

    assert kit.names()[-3:] == ["deleteMessage", "sendPhoto", "answerCallbackQuery"]
    sent = kit.last("sendPhoto")
    assert (sent.photo, sent.caption) == ("FILE-1", card("en", p, photos=1))

    await kit.press("pp:1", on=sent)

    assert kit.names()[-3:] == ["deleteMessage", "sendMessage", "answerCallbackQuery"]
    assert kit.last("sendMessage").text == t("products.list_title", "en", total=1)


# --- the add flow -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_add_a_product_step_by_step(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)

    await kit.press("pa:new")
    prompt = kit.last("editMessageText")
    assert prompt.text == step(lang, 1, "ask_name")
    assert flat(kit, prompt) == [(t("common.cancel", lang), "pa:cancel")]

    answers = [
        ("Green tea 100 g", 2, "ask_sku"),
        ("GT-100", 3, "ask_price"),
        ("250 000", 4, "ask_stock"),
        ("15", 5, "ask_category"),
    ]
    for text, number, ask in answers:
        await kit.send(text)
        assert kit.last("sendMessage").text == step(lang, number, ask)

    assert flat(kit, kit.last("sendMessage")) == [
        (t("common.skip", lang), "pa:skip"),
        (t("common.cancel", lang), "pa:cancel"),
    ]
    await kit.press("pa:skip")
    photo_step = kit.last("editMessageText")
    assert photo_step.text == step(lang, 6, "ask_photo")

    await kit.press("pa:skip")

    saved = await Product.get(seller_id=owner.id)
    assert (saved.name, saved.sku, saved.price, saved.stock, saved.category, saved.photos) == (
        "Green tea 100 g",
        "GT-100",
        250_000,
        15,
        "",
        [],
    )
    assert kit.last("editMessageText").text == card(lang, saved, "products.saved")


async def test_every_step_rejects_bad_input_and_asks_again(kit: BotKit) -> None:
    owner = await seller("ru")
    await product(owner.id, "TAKEN")
    await kit.press("pa:new")

    bad_then_good = [
        ("x" * 256, "products.bad_name", "Чайник"),
        ("has space", "products.bad_sku", None),
        ("TAKEN", "products.sku_taken", "NEW-1"),
        ("-5", "products.bad_price", None),
        ("abc", "products.bad_price", None),
        ("1.5", "products.bad_price", None),
        ("12 34", "products.bad_price", "1 250 000"),
        ("-1", "products.bad_stock", "7"),
    ]
    for bad, error, good in bad_then_good:
        await kit.send(bad)
        expected = t(error, "ru", sku=bad)
        assert kit.last("sendMessage").text == expected, bad
        assert flat(kit, kit.last("sendMessage")) == [(t("common.cancel", "ru"), "pa:cancel")]
        if good:
            await kit.send(good)

    await kit.send("k" * 65)
    assert kit.last("sendMessage").text == t("products.bad_category", "ru")
    await kit.send("Посуда")
    await kit.send("not a photo")
    assert kit.last("sendMessage").text == t("products.bad_photo", "ru")
    await kit.send(photo="PHOTO-1")

    saved = await Product.get(seller_id=owner.id, sku="NEW-1")
    assert (saved.name, saved.price, saved.stock, saved.category, saved.photos) == (
        "Чайник",
        1_250_000,
        7,
        "Посуда",
        ["tg:PHOTO-1"],
    )
    sent = kit.last("sendPhoto")
    assert (sent.photo, sent.caption) == ("PHOTO-1", card("ru", saved, "products.saved", 1))


async def test_a_message_without_text_is_rejected_at_a_text_step(kit: BotKit) -> None:
    await seller()
    await kit.press("pa:new")

    await kit.send(photo="PHOTO-1")

    assert kit.last("sendMessage").text == t("products.bad_name", "en")


async def test_category_buttons_offer_the_existing_categories(kit: BotKit) -> None:
    owner = await seller()
    await product(owner.id, "A", category="Kitchen")
    await product(owner.id, "B", category="Garden")
    await kit.press("pa:new")
    for text in ("Rake", "R-1", "90000", "3"):
        await kit.send(text)

    assert kit.buttons(kit.last("sendMessage")) == [
        [("Garden", "pc:0"), ("Kitchen", "pc:1")],
        [("Skip", "pa:skip")],
        [("✖️ Cancel", "pa:cancel")],
    ]
    await kit.press("pc:0")
    await kit.press("pa:skip")

    assert (await Product.get(seller_id=owner.id, sku="R-1")).category == "Garden"


async def test_cancel_in_the_middle_leaves_nothing_behind(kit: BotKit) -> None:
    owner = await seller()
    await kit.press("pa:new")
    await kit.send("Kettle")
    await kit.send("K-1")

    await kit.press("pa:cancel")

    assert alert(kit) == (t("common.cancelled", "en"), False)
    assert kit.last("editMessageText").text == t("products.list_empty", "en")
    kit.clear()
    await kit.send("100000")  # would have been the price
    # Not a step any more: the text is answered as one no screen expects.
    assert [(c.__api_method__, c.text) for c in kit.calls()] == [
        ("sendMessage", t("common.not_understood", "en"))
    ]
    assert await Product.filter(seller_id=owner.id).count() == 0


async def test_sku_taken_while_adding_asks_for_another(kit: BotKit) -> None:
    owner = await seller()
    await kit.press("pa:new")
    for text in ("Kettle", "K-1", "100000", "2"):
        await kit.send(text)
    await kit.press("pa:skip")
    await product(owner.id, "K-1")  # meanwhile, from the web cabinet

    await kit.press("pa:skip")

    assert kit.last("editMessageText").text == t("products.sku_taken", "en", sku="K-1")
    await kit.send("K-2")
    assert kit.last("sendMessage").text == step("en", 6, "ask_photo")
    await kit.press("pa:skip")
    assert (await Product.get(seller_id=owner.id, sku="K-2")).price == 100_000


@pytest.mark.parametrize("data", ["pa:skip", "pc:0"])
async def test_buttons_of_a_finished_flow_say_so(kit: BotKit, data: str) -> None:
    await seller("uz")

    await kit.press(data)

    assert alert(kit) == (t("products.flow_expired", "uz"), True)


# --- edits --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_edit_price(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    p = await product(owner.id)

    await kit.press(f"p:{p.id}:price:2")
    prompt = kit.last("sendMessage")
    price = {"uz": "250 000 so'm", "ru": "250 000 сум", "en": "250,000 UZS"}[lang]
    assert prompt.text == t("products.ask_new_price", lang, name="Tea pot", price=price)
    assert flat(kit, prompt) == [(t("common.cancel", lang), f"p:{p.id}:view:2")]

    await kit.send("a lot")
    assert kit.last("sendMessage").text == t("products.bad_price", lang)
    await kit.send("1 250 000")

    await p.refresh_from_db()
    assert p.price == 1_250_000
    updated = kit.last("sendMessage")
    assert updated.text == card(lang, p, "products.price_updated")
    assert kit.button_data(updated, t("products.back_to_list", lang)) == "pp:2"


async def test_edit_stock(kit: BotKit) -> None:
    owner = await seller()
    p = await product(owner.id)

    await kit.press(f"p:{p.id}:stock:1")
    assert kit.last("sendMessage").text == t(
        "products.ask_new_stock", "en", name="Tea pot", stock=5
    )
    await kit.send("-3")
    assert kit.last("sendMessage").text == t("products.bad_stock", "en")
    await kit.send("40")

    await p.refresh_from_db()
    assert p.stock == 40
    assert kit.last("sendMessage").text == card("en", p, "products.stock_updated")


async def test_cancel_of_an_edit_goes_back_to_the_card(kit: BotKit) -> None:
    owner = await seller()
    p = await product(owner.id)
    await kit.press(f"p:{p.id}:price:1")

    await kit.press(f"p:{p.id}:view:1")
    kit.clear()
    await kit.send("999")

    # Not a step any more: the text is answered as one no screen expects.
    assert [(c.__api_method__, c.text) for c in kit.calls()] == [
        ("sendMessage", t("common.not_understood", "en"))
    ]
    await p.refresh_from_db()
    assert p.price == 250_000


async def test_a_product_deleted_during_an_edit_ends_the_edit(kit: BotKit) -> None:
    owner = await seller("uz")
    p = await product(owner.id)
    await kit.press(f"p:{p.id}:price:1")
    await products.delete(owner.id, p.id)  # meanwhile, from the web cabinet

    await kit.send("100 000")

    answer = kit.last("sendMessage")
    assert (answer.text, answer.parse_mode) == (t("errors.not_found", "uz"), None)
    kit.clear()
    await kit.send("200 000")
    # Not a step any more: the text is answered as one no screen expects.
    assert [(c.__api_method__, c.text) for c in kit.calls()] == [
        ("sendMessage", t("common.not_understood", "uz"))
    ]


async def test_add_a_photo_to_a_product(kit: BotKit) -> None:
    owner = await seller()
    p = await product(owner.id)

    await kit.press(f"p:{p.id}:photo:1")
    assert kit.last("sendMessage").text == t("products.ask_new_photo", "en", name="Tea pot")
    await kit.send("here it is")
    assert kit.last("sendMessage").text == t("products.bad_photo", "en")
    await kit.send(photo="PHOTO-9")

    await p.refresh_from_db()
    assert p.photos == ["tg:PHOTO-9"]
    sent = kit.last("sendPhoto")
    assert (sent.photo, sent.caption) == ("PHOTO-9", card("en", p, "products.photo_added", 1))


async def test_an_eleventh_photo_is_refused(kit: BotKit) -> None:
    owner = await seller()
    p = await product(owner.id, photos=[f"tg:F{i}" for i in range(10)])

    await kit.press(f"p:{p.id}:photo:1")
    await kit.send(photo="PHOTO-11")

    assert kit.last("sendMessage").text == t("products.too_many_photos", "en")
    await p.refresh_from_db()
    assert len(p.photos) == 10


# --- delete -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_delete_asks_first(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    p = await product(owner.id)

    await kit.press(f"p:{p.id}:delete:1")

    confirm = kit.last("editMessageText")
    assert confirm.text == t("products.delete_confirm", lang, name="Tea pot", sku="SKU-1")
    assert flat(kit, confirm) == [
        (t("products.delete_yes", lang), f"p:{p.id}:delete_ok:1"),
        (t("products.delete_no", lang), f"p:{p.id}:view:1"),
    ]
    assert await Product.exists(id=p.id)

    await kit.press(f"p:{p.id}:delete_ok:1")

    assert not await Product.exists(id=p.id)
    assert alert(kit) == (t("products.deleted", lang), False)
    assert kit.last("editMessageText").text == t("products.list_empty", lang)

    await kit.press(f"p:{p.id}:delete_ok:1")  # pressed twice
    assert alert(kit) == (t("errors.not_found", lang), True)


async def test_delete_confirm_on_a_photo_card_edits_the_caption(kit: BotKit) -> None:
    owner = await seller()
    p = await product(owner.id, photos=["https://cdn.example.com/pot.jpg"])
    await kit.press(f"p:{p.id}:view:1")

    await kit.press(f"p:{p.id}:delete:1", on=kit.last("sendPhoto"))

    assert kit.last("editMessageCaption").caption == t(
        "products.delete_confirm", "en", name="Tea pot", sku="SKU-1"
    )


# --- other sellers and strangers -----------------------------------------------------------


@pytest.mark.parametrize("action", ["view", "price", "stock", "photo", "delete", "delete_ok"])
async def test_another_sellers_product_is_not_found(kit: BotKit, action: str) -> None:
    other = await seller("en", user_id=2002)
    theirs = await product(other.id, name="Secret recipe")
    await seller("ru")

    await kit.press(f"p:{theirs.id}:{action}:1")

    assert alert(kit) == (t("errors.not_found", "ru"), True)
    assert [n for n in kit.names() if n != "answerCallbackQuery"] == []
    assert await Product.exists(id=theirs.id, price=250_000)


async def test_a_stranger_is_sent_to_start(kit: BotKit) -> None:
    await kit.press("m:products", language="ru")

    assert alert(kit) == (t("errors.not_authenticated", "ru"), True)


async def test_add_flow_state_is_stable(kit: BotKit) -> None:
    # State names persist in the FSM storage (Redis when scaled out).
    assert ProductAdd.name.state == "ProductAdd:name"

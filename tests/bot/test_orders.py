from __future__ import annotations

from typing import Any

import pytest

from core.formatting import format_datetime
from core.i18n import t
from core.models import Order, OrderEvent, OrderStatus, Product, Seller
from core.schemas import OrderIn, OrderStatusIn, ProductIn
from core.services import accounts, orders, products
from tests.botkit import BotKit

USER = 1001
LANGS = ["uz", "ru", "en"]
S = OrderStatus


@pytest.fixture
def kit(database: None) -> BotKit:
    return BotKit()


async def seller(lang: str = "en", user_id: int = USER) -> Seller:
    return await accounts.register_from_telegram(user_id, "Shop Owner", lang)


async def teapot(seller_id: int, stock: int = 10) -> Product:
    data = ProductIn(name="Tea pot", sku="POT", price=125_000, stock_quantity=stock)
    return await products.create(seller_id, data)


async def order(seller_id: int, product: Product, quantity: int = 2, **extra: Any) -> Order:
    body = {
        "customerName": "Aziza",
        "customerPhone": "+998901234567",
        "items": [
            {"productId": product.id, "quantity": quantity},
            {"name": "Gift wrap", "quantity": 1, "price": 5_000},
        ],
        **extra,
    }
    return await orders.create(seller_id, OrderIn.model_validate(body))


async def move(seller_id: int, order_id: int, *path: S) -> None:
    for status in path:
        change = OrderStatusIn(
            status=status, tracking_number="TRK" if status is S.SHIPPED else None
        )
        await orders.change_status(seller_id, order_id, change)


def flat(kit: BotKit, call: object) -> list[tuple[str, str | None]]:
    return [button for row in kit.buttons(call) for button in row]


def alert(kit: BotKit) -> tuple[str, bool]:
    answer = kit.last("answerCallbackQuery")
    return answer.text, bool(answer.show_alert)


# --- overview and lists -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_overview_counts_orders_by_status(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    pot = await teapot(owner.id, stock=100)
    for _ in range(3):
        await order(owner.id, pot)
    confirmed = await order(owner.id, pot)
    await move(owner.id, confirmed.id, S.CONFIRMED)

    await kit.press("m:orders")

    screen = kit.last("editMessageText")
    assert screen.text == t("orders.title", lang, total=4)

    def label(icon: str, status: str, count: int) -> str:
        name = f"{icon} {t(f'orders.filter_{status}', lang)}"
        return t("orders.status_count", lang, status=name, count=count)

    assert kit.buttons(screen) == [
        [(label("🆕", "new", 3), "ol:new:1"), (label("✅", "confirmed", 1), "ol:confirmed:1")],
        [
            (label("🚚", "shipped", 0), "ol:shipped:1"),
            (label("📦", "delivered", 0), "ol:delivered:1"),
        ],
        [
            (label("❌", "cancelled", 0), "ol:cancelled:1"),
            (label("↩️", "returned", 0), "ol:returned:1"),
        ],
        [(t("orders.all", lang, count=4), "ol:all:1")],
        [(t("menu.back", lang), "m:main")],
    ]


async def test_english_overview_reads_naturally(kit: BotKit) -> None:
    owner = await seller("en")
    await order(owner.id, await teapot(owner.id))

    await kit.press("m:orders")

    screen = kit.last("editMessageText")
    assert screen.text == "🧾 <b>Orders</b>: 1\nPick a status to see its orders:"
    assert flat(kit, screen)[0] == ("🆕 New (1)", "ol:new:1")


async def test_a_status_list_is_paginated(kit: BotKit) -> None:
    owner = await seller("en")
    pot = await teapot(owner.id, stock=100)
    made = [await order(owner.id, pot, quantity=1) for _ in range(10)]
    await move(owner.id, made[0].id, S.CONFIRMED)

    await kit.press("ol:new:1")

    first = kit.last("editMessageText")
    assert first.text == "🧾 <b>New</b>: 9\nPage 1 of 2"
    buttons = flat(kit, first)
    assert buttons[0] == (f"#{made[9].id} · Aziza · 130,000 UZS", f"o:{made[9].id}:new:1")
    assert [d for _, d in buttons[:8]] == [f"o:{o.id}:new:1" for o in made[:1:-1]]
    assert buttons[8:] == [("▶", "ol:new:2"), ("« Orders", "m:orders")]

    await kit.press("ol:new:2")

    second = kit.last("editMessageText")
    assert flat(kit, second) == [
        (f"#{made[1].id} · Aziza · 130,000 UZS", f"o:{made[1].id}:new:2"),
        ("◀", "ol:new:1"),
        ("« Orders", "m:orders"),
    ]


async def test_the_all_list_marks_each_status(kit: BotKit) -> None:
    owner = await seller("ru")
    pot = await teapot(owner.id)
    first = await order(owner.id, pot, quantity=1, customerName="")
    second = await order(owner.id, pot, quantity=1)
    await move(owner.id, first.id, S.CANCELLED)

    await kit.press("ol:all:1")

    screen = kit.last("editMessageText")
    assert screen.text == t("orders.list_title", "ru", status="Все заказы", total=2)
    assert flat(kit, screen)[:2] == [
        (f"🆕 №{second.id} · Aziza · 130 000 сум", f"o:{second.id}:all:1"),
        (f"❌ №{first.id} · без имени · 130 000 сум", f"o:{first.id}:all:1"),
    ]


async def test_an_empty_list(kit: BotKit) -> None:
    await seller("uz")

    await kit.press("ol:returned:1")

    assert kit.last("editMessageText").text == t("orders.list_empty", "uz")


# --- the card -----------------------------------------------------------------------------


def expected_card(lang: str, o: Order, events: list[OrderEvent], status: str) -> str:
    money = {"uz": "{} so'm", "ru": "{} сум", "en": "{} UZS"}[lang]
    sep = "," if lang == "en" else " "
    actors = {"seller": "orders.actor_web", "telegram": "orders.actor_telegram"}
    history = [
        t(
            "orders.history_tracking" if e.tracking_number else "orders.history_line",
            lang,
            date=format_datetime(e.created_at),
            status=t(f"orders.status_{e.to_status}", lang),
            actor=t(actors[e.actor.split(":")[0]], lang),
            tracking=e.tracking_number,
        )
        for e in events
    ]
    lines = [
        t("orders.card_title", lang, id=o.id, date=format_datetime(o.created_at)),
        t("orders.card_status", lang, status=t(f"orders.status_{status}", lang)),
        t("orders.card_customer", lang, customer="Aziza, +998 90 123 45 67"),
        "",
        t(
            "orders.card_line",
            lang,
            name="Tea pot",
            quantity=2,
            amount=money.format("250" + sep + "000"),
        ),
        t(
            "orders.card_line",
            lang,
            name="Gift wrap",
            quantity=1,
            amount=money.format("5" + sep + "000"),
        ),
        t("orders.card_total", lang, total=money.format("255" + sep + "000")),
    ]
    if o.tracking_number:
        lines.append(t("orders.card_tracking", lang, tracking=o.tracking_number))
    return "\n".join([*lines, "", t("orders.card_history", lang), *history])


@pytest.mark.parametrize("lang", LANGS)
async def test_card_shows_the_order_and_the_allowed_next_steps(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    o = await order(owner.id, await teapot(owner.id))

    await kit.press(f"o:{o.id}:new:2")

    screen = kit.last("editMessageText")
    events = await OrderEvent.filter(order_id=o.id).order_by("id")
    assert screen.text == expected_card(lang, o, events, "new")
    assert kit.buttons(screen) == [
        [
            (t("orders.action_confirmed", lang), f"os:{o.id}:confirmed:0:new:2"),
            (t("orders.action_cancelled", lang), f"os:{o.id}:cancelled:0:new:2"),
        ],
        [(t("orders.back_to_list", lang), "ol:new:2")],
    ]


async def test_card_with_address_notes_and_no_customer(kit: BotKit) -> None:
    owner = await seller("en")
    o = await order(
        owner.id,
        await teapot(owner.id),
        customerName="",
        customerPhone=None,
        deliveryAddress="Tashkent, Chilonzor 5",
        notes="Call <before> & after",
    )

    await kit.press(f"o:{o.id}:all:1")

    text = kit.last("editMessageText").text
    assert text.split("\n")[2:5] == [
        "👤 No customer details",
        "📍 Tashkent, Chilonzor 5",
        "📝 Call &lt;before&gt; &amp; after",
    ]


# --- status changes -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
async def test_confirm_updates_the_card_in_place(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    o = await order(owner.id, await teapot(owner.id))

    await kit.press(f"os:{o.id}:confirmed:0:new:1")

    await o.refresh_from_db()
    assert o.status is S.CONFIRMED
    status = t("orders.status_confirmed", lang)
    assert alert(kit) == (t("orders.status_changed", lang, status=status), False)
    screen = kit.last("editMessageText")
    events = await OrderEvent.filter(order_id=o.id).order_by("id")
    assert events[-1].actor == f"telegram:{USER}"
    assert screen.text == expected_card(lang, o, events, "confirmed")
    assert [d for _, d in flat(kit, screen)] == [
        f"os:{o.id}:shipped:0:new:1",
        f"os:{o.id}:cancelled:0:new:1",
        "ol:new:1",
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_ship_asks_for_the_tracking_number(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    o = await order(owner.id, await teapot(owner.id))
    await move(owner.id, o.id, S.CONFIRMED)

    await kit.press(f"os:{o.id}:shipped:0:confirmed:1")

    prompt = kit.last("editMessageText")
    assert prompt.text == t("orders.ask_tracking", lang, id=o.id)
    assert flat(kit, prompt) == [(t("common.cancel", lang), f"o:{o.id}:confirmed:1")]

    await kit.send(photo="NOT-TEXT")
    assert kit.last("sendMessage").text == t("orders.bad_tracking", lang)
    await kit.send("x" * 65)
    assert kit.last("sendMessage").text == t("orders.bad_tracking", lang)
    await kit.send("  UZ123456789  ")

    await o.refresh_from_db()
    assert (o.status, o.tracking_number) == (S.SHIPPED, "UZ123456789")
    card = kit.last("editMessageText")
    events = await OrderEvent.filter(order_id=o.id).order_by("id")
    assert card.message_id == 1  # the message that was the card, then the prompt
    assert card.text == expected_card(lang, o, events, "shipped")
    assert [d for _, d in flat(kit, card)] == [
        f"os:{o.id}:delivered:0:confirmed:1",
        f"os:{o.id}:returned:0:confirmed:1",
        "ol:confirmed:1",
    ]
    assert kit.last("sendMessage").text == t(
        "orders.shipped", lang, id=o.id, tracking="UZ123456789"
    )


async def test_cancel_of_the_tracking_step_goes_back_to_the_card(kit: BotKit) -> None:
    owner = await seller()
    o = await order(owner.id, await teapot(owner.id))
    await move(owner.id, o.id, S.CONFIRMED)
    await kit.press(f"os:{o.id}:shipped:0:all:1")

    await kit.press(f"o:{o.id}:all:1")
    kit.clear()
    await kit.send("UZ1")

    # Not a step any more: the text is answered as one no screen expects.
    assert [(c.__api_method__, c.text) for c in kit.calls()] == [
        ("sendMessage", t("common.not_understood", "en"))
    ]
    await o.refresh_from_db()
    assert o.status is S.CONFIRMED


async def test_deliver(kit: BotKit) -> None:
    owner = await seller()
    o = await order(owner.id, await teapot(owner.id))
    await move(owner.id, o.id, S.CONFIRMED, S.SHIPPED)

    await kit.press(f"os:{o.id}:delivered:0:all:1")

    await o.refresh_from_db()
    assert o.status is S.DELIVERED
    assert alert(kit) == ("Status: Delivered", False)
    assert [d for _, d in flat(kit, kit.last("editMessageText"))] == [
        f"os:{o.id}:returned:0:all:1",
        "ol:all:1",
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_cancel_asks_first_and_restores_stock(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    pot = await teapot(owner.id, stock=10)
    o = await order(owner.id, pot, quantity=3)
    await pot.refresh_from_db()
    assert pot.stock == 7

    await kit.press(f"os:{o.id}:cancelled:0:new:1")

    confirm = kit.last("editMessageText")
    assert confirm.text == t("orders.confirm_cancelled", lang, id=o.id)
    assert flat(kit, confirm) == [
        (t("orders.confirm_yes_cancelled", lang), f"os:{o.id}:cancelled:1:new:1"),
        (t("orders.confirm_no", lang), f"o:{o.id}:new:1"),
    ]
    await o.refresh_from_db()
    assert o.status is S.NEW

    await kit.press(f"os:{o.id}:cancelled:1:new:1")

    await o.refresh_from_db()
    await pot.refresh_from_db()
    assert (o.status, pot.stock) == (S.CANCELLED, 10)
    screen = kit.last("editMessageText")
    assert t("orders.status_cancelled", lang) in screen.text
    assert flat(kit, screen) == [(t("orders.back_to_list", lang), "ol:new:1")]


async def test_return_asks_first_and_restores_stock(kit: BotKit) -> None:
    owner = await seller("uz")
    pot = await teapot(owner.id, stock=10)
    o = await order(owner.id, pot, quantity=4)
    await move(owner.id, o.id, S.CONFIRMED, S.SHIPPED, S.DELIVERED)

    await kit.press(f"os:{o.id}:returned:0:all:1")
    assert kit.last("editMessageText").text == t("orders.confirm_returned", "uz", id=o.id)
    await kit.press(f"os:{o.id}:returned:1:all:1")

    await o.refresh_from_db()
    await pot.refresh_from_db()
    assert (o.status, pot.stock) == (S.RETURNED, 10)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_stale_button_answers_with_the_transition_error(kit: BotKit, lang: str) -> None:
    owner = await seller(lang)
    o = await order(owner.id, await teapot(owner.id))
    await kit.press(f"os:{o.id}:confirmed:0:new:1")

    await kit.press(f"os:{o.id}:confirmed:0:new:1")  # the same button, pressed again

    assert alert(kit) == (t("errors.invalid_status_transition", lang), True)
    await o.refresh_from_db()
    assert o.status is S.CONFIRMED


@pytest.mark.parametrize("to", ["shipped", "cancelled", "returned"])
async def test_steps_that_ask_first_check_the_transition_first(kit: BotKit, to: str) -> None:
    owner = await seller()
    o = await order(owner.id, await teapot(owner.id))
    await move(owner.id, o.id, S.CONFIRMED, S.SHIPPED, S.DELIVERED, S.RETURNED)

    await kit.press(f"os:{o.id}:{to}:0:all:1")

    assert alert(kit) == (t("errors.invalid_status_transition", "en"), True)


async def test_an_unknown_status_is_an_out_of_date_button(kit: BotKit) -> None:
    owner = await seller()
    o = await order(owner.id, await teapot(owner.id))

    await kit.press(f"os:{o.id}:lost:1:all:1")

    assert alert(kit) == (t("common.stale_button", "en"), True)
    await o.refresh_from_db()
    assert o.status is S.NEW


# --- other sellers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "o:{id}:all:1",
        "os:{id}:confirmed:0:all:1",
        "os:{id}:cancelled:0:all:1",
        "os:{id}:cancelled:1:all:1",
        "os:{id}:shipped:0:all:1",
    ],
)
async def test_another_sellers_order_is_not_found(kit: BotKit, data: str) -> None:
    other = await seller("en", user_id=2002)
    theirs = await order(other.id, await teapot(other.id))
    await seller("ru")

    await kit.press(data.format(id=theirs.id))

    assert alert(kit) == (t("errors.not_found", "ru"), True)
    assert [n for n in kit.names() if n != "answerCallbackQuery"] == []
    await theirs.refresh_from_db()
    assert theirs.status is S.NEW


async def test_another_sellers_orders_are_not_counted_or_listed(kit: BotKit) -> None:
    other = await seller("en", user_id=2002)
    await order(other.id, await teapot(other.id))
    await seller("en")

    await kit.press("m:orders")
    assert kit.last("editMessageText").text == t("orders.title", "en", total=0)
    await kit.press("ol:all:1")
    assert kit.last("editMessageText").text == t("orders.list_empty", "en")

"""Order and payment events become outbox rows, in the same transaction as the change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.callbacks import MenuCb
from core import db, events
from core.errors import InvalidTransition
from core.formatting import format_money
from core.i18n import t
from core.models import (
    Channel,
    DeliveryState,
    MessageType,
    Notification,
    OrderStatus,
    Payment,
    Seller,
)
from core.payments import notices
from core.plans import BillingPeriod
from core.schemas import OrderIn, OrderStatusIn
from core.services import notification_events, orders
from core.settings import Settings
from tests.notifications.conftest import drain, make_customer, make_seller

S = OrderStatus
PHONE = "998901234567"


async def place(seller: Seller, phone: str | None = PHONE, total: int = 150_000) -> int:
    body: dict[str, Any] = {
        "customerName": "Aziza",
        "items": [{"name": "Scarf", "quantity": 1, "price": total}],
    }
    if phone:
        body["customerPhone"] = phone
    order = await orders.create(seller.id, OrderIn.model_validate(body))
    return order.id


async def move(seller: Seller, order_id: int, *path: S) -> None:
    for status in path:
        tracking = "UZ123456" if status is S.SHIPPED else None
        await orders.change_status(
            seller.id, order_id, OrderStatusIn(status=status, tracking_number=tracking)
        )


async def rows() -> list[Notification]:
    return list(await Notification.all().order_by("id"))


async def test_a_customer_on_telegram_hears_every_step_in_their_language(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller(full_name="Silk Road")
    await make_customer(seller, PHONE, chat_id=4242, language="ru")
    order_id = await place(seller)

    await move(seller, order_id, S.CONFIRMED, S.SHIPPED, S.DELIVERED)

    sent = await rows()
    assert [(r.channel, r.type, r.recipient) for r in sent] == [
        (Channel.TELEGRAM, kind, "4242")
        for kind in ("order_confirmation", "order_shipped", "order_delivered")
    ]
    total = format_money(150_000, "ru")
    assert sent[0].text == t(
        "notifications.msg.order_confirmation",
        "ru",
        shop="Silk Road",
        order_id=order_id,
        total=total,
    )
    assert sent[1].text == t(
        "notifications.msg.order_shipped",
        "ru",
        shop="Silk Road",
        order_id=order_id,
        tracking="UZ123456",
    )
    assert {r.language for r in sent} == {"ru"}


@pytest.mark.parametrize(
    ("plan", "setting", "expected"),
    [
        ("premium", "sms", [Channel.SMS]),
        ("premium", "whatsapp", [Channel.WHATSAPP]),
        ("premium", "none", []),
        ("free", "sms", []),  # the free plan has no SMS: nothing goes
        ("starter_pro", "whatsapp", []),  # nor WhatsApp on starter_pro
    ],
)
async def test_customers_without_telegram_get_the_sellers_channel(
    database: None, channel_settings: Settings, plan: str, setting: str, expected: list[Channel]
) -> None:
    seller = await make_seller(plan=plan, customer_channel=setting)

    await place(seller)

    assert [r.channel for r in await rows()] == expected


async def test_whatsapp_order_news_use_the_template_outside_the_window(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller(customer_channel="whatsapp", full_name="Shop")
    order_id = await place(seller)
    customer = await make_customer(seller, "998907654321", language="uz")
    customer.whatsapp_last_inbound_at = datetime.now(UTC) - timedelta(hours=1)
    await customer.save()
    second = await place(seller, "998907654321")

    first, recent = await rows()
    assert first.payload["mode"] == "template"
    assert first.payload["template"] == {
        "name": "order_confirmation",
        "language": "en",
        "params": ["Shop", str(order_id), format_money(150_000, "en")],
    }
    assert recent.payload["mode"] == "text" and recent.language == "uz"
    assert f"#{second}" in recent.text


async def test_one_confirmation_per_order_and_no_message_for_returns(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller()
    order_id = await place(seller)

    await move(seller, order_id, S.CONFIRMED, S.SHIPPED, S.RETURNED)

    assert [r.type for r in await rows()] == ["order_confirmation", "order_shipped"]


async def test_orders_without_a_phone_notify_nobody(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller()
    await place(seller, phone=None)
    assert await rows() == []


async def test_the_outbox_row_rolls_back_with_the_change(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller()
    order_id = await place(seller)

    with pytest.raises(InvalidTransition):
        await move(seller, order_id, S.DELIVERED)

    assert [r.type for r in await rows()] == ["order_confirmation"]


async def test_a_broken_subscriber_never_breaks_the_order(
    database: None, channel_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = await make_seller()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(notification_events.notifications, "notify_customer", broken)
    order_id = await place(seller)
    await move(seller, order_id, S.CONFIRMED)

    assert (await orders.get(seller.id, order_id)).status is S.CONFIRMED
    assert await rows() == []


async def test_over_the_daily_cap_the_row_is_failed_and_accounted_for(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller(plan="starter_pro")  # 200 SMS a day
    await Notification.bulk_create(
        [
            Notification(
                seller_id=seller.id,
                channel=Channel.SMS,
                recipient=PHONE,
                type="custom",
                next_attempt_at=datetime.now(UTC),
                state=DeliveryState.SENT,
                attempts=1,
                dedupe_key=f"seed:{n}",
            )
            for n in range(200)
        ]
    )

    await place(seller)

    last = await Notification.filter(type="order_confirmation").get()
    assert (last.state, last.last_error) == (DeliveryState.FAILED, "daily sms cap of 200 reached")


async def test_a_burst_of_order_changes_is_delivered_once_each(
    database: None, channel_settings: Settings, telegram: Any
) -> None:
    seller = await make_seller()
    ids = []
    for n in range(12):
        phone = f"99890{n:07d}"
        await make_customer(seller, phone, chat_id=9000 + n)
        ids.append(await place(seller, phone))
    for order_id in ids:
        await move(seller, order_id, S.CONFIRMED, S.SHIPPED)

    await drain(channel_settings)

    sent = await rows()
    assert len(sent) == 24 and all(r.state is DeliveryState.SENT for r in sent)
    per_chat: dict[int, list[str]] = {}
    for message in telegram.sent_messages:
        per_chat.setdefault(message.chat_id, []).append(message.text)
    assert all(len(texts) == 2 for texts in per_chat.values())
    # Order within a chat is kept: accepted before shipped.
    assert all("UZ123456" in texts[1] for texts in per_chat.values())


# --- the seller's own news --------------------------------------------------------------


async def payment(seller: Seller) -> Payment:
    return await Payment.create(
        transaction_id="SUB-TEST-1",
        seller_id=seller.id,
        provider="click",
        tier="premium",
        period=BillingPeriod.MONTHLY,
        amount=700_000,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )


async def emit(name: str, **payload: Any) -> None:
    async with db.atomic() as conn:
        await events.emit(name, conn=conn, **payload)


async def test_payment_and_plan_news_reach_the_seller_with_a_subscription_button(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller(telegram_id=555, language="uz")
    paid = await payment(seller)

    await emit(events.PAYMENT_PAID, payment=paid, seller=seller)
    await emit(events.PAYMENT_PAID, payment=paid, seller=seller)  # a repeat is a no-op
    await emit(events.PLAN_EXPIRING, seller=seller, days_left=3)
    await emit(events.PLAN_EXPIRED, seller=seller)

    notes = await rows()
    assert [(r.channel, r.recipient, r.type) for r in notes] == [
        (Channel.TELEGRAM, "555", MessageType.NOTICE.value)
    ] * 3
    assert notes[0].text == notices.paid(paid, seller).text
    assert notes[1].text == notices.expiring(seller, 3).text
    assert notes[2].text == notices.expired(seller).text
    button = notes[0].payload["reply_markup"]["inline_keyboard"][0][0]
    assert button == {
        "text": t("payments.notice_button", "uz"),
        "callback_data": MenuCb(section="subscription").pack(),
    }


async def test_sellers_without_telegram_get_no_notice(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller(telegram_id=None)
    await emit(events.PAYMENT_CANCELLED, payment=await payment(seller), seller=seller)
    assert await rows() == []

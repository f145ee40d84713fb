"""Domain events that become messages: order news for customers, payment news for sellers.

Subscribers run inside the emitting transaction and write their outbox rows with its
connection, so a row exists exactly when the change committed. Each runs in a savepoint:
a fault here is logged and rolled back alone, never failing the order or the payment.
Dedupe keys (`order:<id>:<type>`, `payment:<id>:paid`, ...) make a repeated event a no-op.

Imported (and so subscribed) by every process that can emit these events: the web routes,
the bot handlers and the delivery worker.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from core import db, events
from core.formatting import format_money
from core.i18n import catalog, t
from core.models import (
    Channel,
    Customer,
    MessageType,
    Order,
    OrderStatus,
    Seller,
)
from core.services import channels, notifications, outbox
from core.services.outbox import Outgoing

log = logging.getLogger(__name__)

# Equal to bot.callbacks.MenuCb(section="subscription").pack() (core cannot import aiogram).
SUBSCRIPTION_CALLBACK = "m:subscription"
ORDER_MESSAGES = {
    OrderStatus.CONFIRMED: MessageType.ORDER_CONFIRMATION,
    OrderStatus.SHIPPED: MessageType.ORDER_SHIPPED,
    OrderStatus.DELIVERED: MessageType.ORDER_DELIVERED,
    OrderStatus.CANCELLED: MessageType.ORDER_CANCELLED,
}


async def _isolated(what: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` in a savepoint of the current transaction; a fault stays here."""
    try:
        async with db.atomic():
            await work()
    except Exception:
        log.exception("could not enqueue the notification for %s", what)


# --- orders ----------------------------------------------------------------------------


async def _notify_order(order: Order, kind: MessageType, conn: Any) -> None:
    if order.customer_id is None:
        return
    customer = await Customer.filter(id=order.customer_id).using_db(conn).first()
    seller = await Seller.filter(id=order.seller_id).using_db(conn).first()
    if customer is None or seller is None:
        return
    language = notifications.language_for(seller, customer)
    values = {
        "order_id": order.id,
        "total": format_money(order.total_amount, language),
        "tracking": order.tracking_number or "",
    }
    await notifications.notify_customer(
        seller,
        customer,
        kind,
        values,
        dedupe_key=f"order:{order.id}:{kind.value}",
        using_db=conn,
    )


async def on_order_created(*, order: Order, conn: Any = None, **_: Any) -> None:
    """A new order: the customer hears it was accepted (once per order, see the key)."""
    await _isolated(
        f"order {order.id}",
        lambda: _notify_order(order, MessageType.ORDER_CONFIRMATION, conn),
    )


async def on_order_status(*, order: Order, conn: Any = None, **_: Any) -> None:
    kind = ORDER_MESSAGES.get(OrderStatus(order.status))
    if kind is not None:
        await _isolated(f"order {order.id}", lambda: _notify_order(order, kind, conn))


# --- the seller's own news --------------------------------------------------------------


def _has(key: str, language: str) -> bool:
    return key in catalog(language)


def _notice_text(kind: str, seller: Seller, payment: Any, days_left: int | None) -> str:
    """The payments team's text when their keys exist, else our plain fallback."""
    from core.payments import notices

    language = str(seller.language)
    if _has(f"payments.notice_{kind}", language):
        if kind == "paid":
            return notices.paid(payment, seller).text
        if kind == "cancelled":
            return notices.cancelled(payment, seller).text
        if kind == "expiring":
            return notices.expiring(seller, days_left or 0).text
        return notices.expired(seller).text
    values: dict[str, Any] = {"days_left": days_left, "plan": seller.plan}
    if payment is not None:
        values.update(
            plan=payment.tier,
            amount=format_money(payment.amount, language),
            transaction_id=payment.transaction_id,
        )
    return t(f"notifications.fallback.{kind}", language, **values)


def _button(seller: Seller) -> dict[str, Any]:
    language = str(seller.language)
    key = "payments.notice_button"
    text = (
        t(key, language) if _has(key, language) else t("notifications.fallback.button", language)
    )
    return {"inline_keyboard": [[{"text": text, "callback_data": SUBSCRIPTION_CALLBACK}]]}


async def _notify_seller(
    kind: str,
    seller: Seller,
    dedupe_key: str,
    conn: Any,
    payment: Any = None,
    days: int | None = None,
) -> None:
    if seller.telegram_id is None or not channels.configured(Channel.TELEGRAM):
        return
    item = Outgoing(
        channel=Channel.TELEGRAM,
        recipient=str(seller.telegram_id),
        type=MessageType.NOTICE,
        text=_notice_text(kind, seller, payment, days),
        language=str(seller.language),
        payload={"parse_mode": "HTML", "reply_markup": _button(seller)},
        priority=outbox.PRIORITY_TRANSACTIONAL,
        dedupe_key=dedupe_key,
    )
    await outbox.enqueue(seller.id, [item], using_db=conn, fetch=False)


async def on_payment_paid(*, payment: Any, seller: Seller, conn: Any = None, **_: Any) -> None:
    key = f"payment:{payment.id}:paid"
    await _isolated(key, lambda: _notify_seller("paid", seller, key, conn, payment))


async def on_payment_cancelled(
    *, payment: Any, seller: Seller, conn: Any = None, **_: Any
) -> None:
    key = f"payment:{payment.id}:cancelled:{int(bool(getattr(payment, 'refunded', False)))}"
    await _isolated(key, lambda: _notify_seller("cancelled", seller, key, conn, payment))


def _expiry(seller: Seller) -> str:
    return seller.plan_expires_at.isoformat() if seller.plan_expires_at else "none"


async def on_plan_expiring(*, seller: Seller, days_left: int, conn: Any = None, **_: Any) -> None:
    key = f"plan:{seller.id}:expiring:{_expiry(seller)}:{days_left}"
    await _isolated(key, lambda: _notify_seller("expiring", seller, key, conn, days=days_left))


async def on_plan_expired(*, seller: Seller, conn: Any = None, **_: Any) -> None:
    # The plan's end date is already cleared here; the payments job emits once per expiry.
    key = f"plan:{seller.id}:expired:{datetime.now(UTC):%Y%m%d%H%M}"
    await _isolated(key, lambda: _notify_seller("expired", seller, key, conn))


def subscribe() -> None:
    """Attach the subscribers (idempotent: `events.subscribe` ignores a repeat)."""
    events.subscribe(events.ORDER_CREATED, on_order_created)
    events.subscribe(events.ORDER_STATUS_CHANGED, on_order_status)
    events.subscribe(events.PAYMENT_PAID, on_payment_paid)
    events.subscribe(events.PAYMENT_CANCELLED, on_payment_cancelled)
    events.subscribe(getattr(events, "PLAN_EXPIRING", "plan.expiring"), on_plan_expiring)
    events.subscribe(getattr(events, "PLAN_EXPIRED", "plan.expired"), on_plan_expired)


subscribe()

"""Notifications as a service: what the REST API and the bot ask for, written to the outbox.

Nothing here talks to a channel: every send is a row (or a batch of rows) that the delivery
worker (`core.services.delivery`) takes from the outbox. A repeated request with the same
`Idempotency-Key` returns what the first one created.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from core import db
from core.errors import ChatNotAllowed, ConsentRequired, CustomerUnreachable, NotFound
from core.i18n import pick_language
from core.models import (
    Channel,
    Customer,
    DeliveryState,
    MessageType,
    Notification,
    Seller,
)
from core.phones import normalise_phone
from core.schemas import Pagination, paginate
from core.schemas_notifications import (
    NotificationOut,
    NotificationQuery,
    SmsSendIn,
    TelegramSendIn,
    WhatsAppSendIn,
)
from core.services import audience, channels, messages, outbox
from core.services.outbox import Outgoing

log = logging.getLogger(__name__)

MAX_CUSTOM = 1000


def api_key(seller_id: int, scope: str, idempotency_key: str | None) -> str | None:
    """The dedupe key of an API request that carries an `Idempotency-Key`."""
    if not idempotency_key:
        return None
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"api:{seller_id}:{scope}:{digest}"


async def _existing(key: str | None) -> Notification | None:
    return await Notification.get_or_none(dedupe_key=key) if key else None


async def _customer_by_phone(seller_id: int, phone: str) -> Customer | None:
    return await Customer.get_or_none(seller_id=seller_id, phone=phone)


def language_for(seller: Seller, customer: Customer | None) -> str:
    """The customer's language when known, else the seller's."""
    return pick_language(customer.language if customer else None, seller.language)


async def _enqueue_one(
    seller: Seller, item: Outgoing, *, cap: bool = True, using_db: Any = None
) -> Notification:
    async with db.atomic() as conn:
        if cap:
            await channels.reserve_daily(seller, item.channel, 1, conn)
        rows = await outbox.enqueue(seller.id, [item], using_db=conn)
    return rows[0]


# --- the seed's endpoints ------------------------------------------------------------------


async def send_telegram(
    seller: Seller, body: TelegramSendIn, idempotency_key: str | None = None
) -> Notification:
    """A free text to the seller's own chat or to one of their customers' chats."""
    channels.require_channel(seller, Channel.TELEGRAM)
    key = api_key(seller.id, "telegram", idempotency_key)
    if (found := await _existing(key)) is not None:
        return found
    customer = None
    if body.chat_id != seller.telegram_id:
        customer = await Customer.filter(
            seller_id=seller.id, telegram_chat_id=body.chat_id
        ).first()
        if customer is None:
            raise ChatNotAllowed(
                "chatId must be your own chat or one of your customers' chats", field="chatId"
            )
    item = Outgoing(
        channel=Channel.TELEGRAM,
        recipient=str(body.chat_id),
        type=MessageType.CUSTOM,
        text=body.message,
        language=language_for(seller, customer),
        customer_id=customer.id if customer else None,
        dedupe_key=key,
    )
    return await _enqueue_one(seller, item, cap=False)


async def send_sms(
    seller: Seller, body: SmsSendIn, idempotency_key: str | None = None
) -> Notification:
    """A free text by SMS through Eskiz."""
    channels.require_channel(seller, Channel.SMS)
    phone = normalise_phone(body.phone, "phone")
    key = api_key(seller.id, "sms", idempotency_key)
    if (found := await _existing(key)) is not None:
        return found
    customer = await _customer_by_phone(seller.id, phone)
    item = Outgoing(
        channel=Channel.SMS,
        recipient=phone,
        type=MessageType.CUSTOM,
        text=body.message,
        language=language_for(seller, customer),
        customer_id=customer.id if customer else None,
        dedupe_key=key,
    )
    return await _enqueue_one(seller, item)


async def whatsapp_item(
    seller: Seller,
    phone: str,
    kind: MessageType,
    data: dict[str, Any],
    customer: Customer | None,
    *,
    field: str = "data",
    dedupe_key: str | None = None,
    priority: int = outbox.PRIORITY_TRANSACTIONAL,
) -> Outgoing:
    """One WhatsApp message of a type: text inside the 24-hour window, template outside."""
    if kind is MessageType.MARKETING and not (customer and customer.marketing_consent):
        raise ConsentRequired("this number has not agreed to marketing", field="phone")
    language = language_for(seller, customer)
    values = messages.values_from_wire(kind, data, language, field)
    last_inbound = customer.whatsapp_last_inbound_at if customer else None
    text, payload = messages.compose(
        Channel.WHATSAPP,
        kind,
        language,
        {"shop": audience.shop_name(seller), **values},
        whatsapp_window=messages.window_open(last_inbound),
    )
    return Outgoing(
        channel=Channel.WHATSAPP,
        recipient=phone,
        type=kind,
        text=text,
        language=language,
        payload=payload,
        customer_id=customer.id if customer else None,
        priority=priority,
        dedupe_key=dedupe_key,
    )


async def send_whatsapp(
    seller: Seller, body: WhatsAppSendIn, idempotency_key: str | None = None
) -> Notification:
    """A typed message by WhatsApp (`data` holds the type's values)."""
    channels.require_channel(seller, Channel.WHATSAPP)
    phone = normalise_phone(body.phone, "phone")
    key = api_key(seller.id, "whatsapp", idempotency_key)
    if (found := await _existing(key)) is not None:
        return found
    customer = await _customer_by_phone(seller.id, phone)
    item = await whatsapp_item(seller, phone, body.type, body.data, customer, dedupe_key=key)
    return await _enqueue_one(seller, item)


# --- to a customer, on whatever reaches them -----------------------------------------------


async def customer_item(
    seller: Seller,
    customer: Customer,
    kind: MessageType,
    values: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    priority: int = outbox.PRIORITY_TRANSACTIONAL,
) -> Outgoing | None:
    """The message for a customer on their channel, or None when nothing reaches them."""
    channel = channels.customer_channel(seller, customer)
    if channel is None:
        return None
    language = language_for(seller, customer)
    text, payload = messages.compose(
        channel,
        kind,
        language,
        {"shop": audience.shop_name(seller), **values},
        whatsapp_window=messages.window_open(customer.whatsapp_last_inbound_at),
    )
    return Outgoing(
        channel=channel,
        recipient=channels.recipient(channel, customer),
        type=kind,
        text=text,
        language=language,
        payload=payload,
        customer_id=customer.id,
        priority=priority,
        dedupe_key=dedupe_key,
    )


async def notify_customer(
    seller: Seller,
    customer: Customer,
    kind: MessageType,
    values: dict[str, Any],
    *,
    dedupe_key: str,
    using_db: Any,
) -> Notification | None:
    """Enqueue inside the caller's transaction; over the daily cap the row is failed at once."""
    item = await customer_item(seller, customer, kind, values, dedupe_key=dedupe_key)
    if item is None:
        return None
    if await Notification.filter(dedupe_key=dedupe_key).using_db(using_db).exists():
        return None
    cap = channels.daily_cap(channels.plan_of(seller), item.channel)
    if cap is not None:
        used = await outbox.sent_today(seller.id, item.channel, using_db)
        if used >= cap:
            item.refused = f"daily {item.channel.value} cap of {cap} reached"
    rows = await outbox.enqueue(seller.id, [item], using_db=using_db)
    return rows[0] if rows else None


def check_reachable(item: Outgoing | None) -> Outgoing:
    if item is None:
        raise CustomerUnreachable("no channel reaches this customer")
    return item


# --- reading the outbox --------------------------------------------------------------------


async def get(seller_id: int, notification_id: int) -> Notification:
    row = await Notification.get_or_none(id=notification_id, seller_id=seller_id)
    if row is None:
        raise NotFound("notification not found")
    return row


async def list_page(
    seller_id: int, query: NotificationQuery
) -> tuple[list[Notification], Pagination]:
    qs = Notification.filter(seller_id=seller_id)
    if query.status is not None:
        qs = qs.filter(state=query.status)
    if query.channel is not None:
        qs = qs.filter(channel=query.channel)
    if query.batch_id is not None:
        qs = qs.filter(batch_id=query.batch_id)
    total = await qs.count()
    rows = await qs.order_by("-id").offset((query.page - 1) * query.limit).limit(query.limit)
    return list(rows), paginate(query.page, query.limit, total)


def to_out(row: Notification) -> NotificationOut:
    waiting = row.state in (DeliveryState.QUEUED, DeliveryState.SENDING)
    return NotificationOut(
        id=row.id,
        channel=row.channel,
        type=row.type,
        recipient=row.recipient,
        customer_id=row.customer_id,
        status=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        provider_message_id=row.provider_message_id,
        batch_id=row.batch_id,
        text=row.text,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if waiting else None,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
    )

"""Many messages at once: the WhatsApp bulk endpoint, the bot's broadcasts, their progress.

A batch is written in one transaction (its rows, the daily cap check) and answered at once;
the delivery worker sends the rows at the channels' pace. Progress is counted from the rows
themselves, so it is exact in every process and across restarts.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count

from core import db
from core.errors import (
    ConsentRequired,
    CustomerUnreachable,
    NotFound,
    UnknownReference,
    ValidationFailed,
)
from core.i18n import t
from core.models import (
    Channel,
    Customer,
    DeliveryState,
    MessageType,
    Notification,
    NotificationBatch,
    Seller,
)
from core.phones import normalise_phone
from core.schemas_notifications import BatchOut, WhatsAppBulkIn
from core.services import audience, channels, notifications, outbox
from core.services.outbox import Outgoing

log = logging.getLogger(__name__)

S = DeliveryState
_CHUNK = 500


async def _existing_batch(key: str | None) -> NotificationBatch | None:
    return await NotificationBatch.get_or_none(dedupe_key=key) if key else None


async def _customers_by_phone(seller_id: int, phones: list[str]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    unique = sorted(set(phones))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        for customer in await Customer.filter(seller_id=seller_id, phone__in=chunk):
            found[str(customer.phone)] = customer
    return found


def _refused(phone: str, kind: MessageType, reason: str) -> Outgoing:
    return Outgoing(
        channel=Channel.WHATSAPP,
        recipient=phone[:32],
        type=kind,
        text="",
        priority=outbox.PRIORITY_BULK,
        refused=reason,
    )


async def _bulk_items(seller: Seller, body: WhatsAppBulkIn) -> list[Outgoing]:
    phones: list[str | None] = []
    for index, entry in enumerate(body.notifications):
        if entry.partner_id not in (None, seller.id):
            field = f"notifications[{index}].partnerId"
            # Another seller's id is as unknown here as anywhere else.
            raise UnknownReference(field, "partnerId must be your own id")
        try:
            phones.append(normalise_phone(entry.phone, f"notifications[{index}].phone"))
        except ValidationFailed:
            phones.append(None)
    known = await _customers_by_phone(seller.id, [p for p in phones if p])
    items = []
    for index, (entry, phone) in enumerate(zip(body.notifications, phones, strict=True)):
        if phone is None:
            items.append(_refused(entry.phone, entry.type, "invalid phone number"))
            continue
        try:
            item = await notifications.whatsapp_item(
                seller,
                phone,
                entry.type,
                entry.data,
                known.get(phone),
                field=f"notifications[{index}].data",
                priority=outbox.PRIORITY_BULK,
            )
        except ConsentRequired:
            item = _refused(phone, entry.type, "no marketing consent")
        items.append(item)
    return items


async def _create_batch(
    seller: Seller,
    items: list[Outgoing],
    *,
    kind: str,
    origin: str,
    dedupe_key: str | None = None,
    channel: Channel | None = None,
) -> NotificationBatch:
    wanted = Counter(item.channel for item in items if not item.refused)
    async with db.atomic() as conn:
        for item_channel, count in wanted.items():
            await channels.reserve_daily(seller, item_channel, count, conn)
        batch = await NotificationBatch.create(
            seller_id=seller.id,
            type=kind,
            channel=channel.value if channel else None,
            origin=origin,
            total=len(items),
            dedupe_key=dedupe_key,
            language=seller.language,
            using_db=conn,
        )
        for index, item in enumerate(items):
            item.dedupe_key = f"batch:{batch.id}:{index}"
        await outbox.enqueue(seller.id, items, batch_id=batch.id, using_db=conn, fetch=False)
    log.info("batch queued id=%s seller=%s total=%s", batch.id, seller.id, len(items))
    return batch


async def send_whatsapp_bulk(
    seller: Seller, body: WhatsAppBulkIn, idempotency_key: str | None = None
) -> NotificationBatch:
    """Queue every item; bad numbers and marketing without consent are failed at once."""
    channels.require_channel(seller, Channel.WHATSAPP)
    key = notifications.api_key(seller.id, "whatsapp-bulk", idempotency_key)
    if (found := await _existing_batch(key)) is not None:
        return found
    items = await _bulk_items(seller, body)
    kinds = {item.type for item in items}
    kind = kinds.pop().value if len(kinds) == 1 else "mixed"
    try:
        return await _create_batch(
            seller, items, kind=kind, origin="api", dedupe_key=key, channel=Channel.WHATSAPP
        )
    except IntegrityError:
        # The same Idempotency-Key raced in twice: the first one's batch stands.
        found = await _existing_batch(key)
        if found is None:
            raise
        return found


async def broadcast(seller: Seller, group: str, text: str) -> NotificationBatch:
    """A marketing message to a group of customers who agreed to offers."""
    targets = await audience.group(seller, group)
    items = []
    for customer, _channel in targets:
        item = await notifications.customer_item(
            seller, customer, MessageType.MARKETING, {"text": text}, priority=outbox.PRIORITY_BULK
        )
        if item is not None:
            items.append(item)
    if not items:
        raise CustomerUnreachable("nobody in this group can be reached")
    return await _create_batch(seller, items, kind=MessageType.MARKETING.value, origin="bot")


async def message_customer(seller: Seller, customer_id: int, text: str) -> NotificationBatch:
    """The seller's own words to one customer, on the customer's channel."""
    customer = await audience.get(seller.id, customer_id)
    item = notifications.check_reachable(
        await notifications.customer_item(seller, customer, MessageType.CUSTOM, {"text": text})
    )
    return await _create_batch(seller, [item], kind=MessageType.CUSTOM.value, origin="bot")


async def attach_progress(batch: NotificationBatch, chat_id: int, message_id: int) -> None:
    """The seller's chat message that the worker keeps editing with the batch's progress."""
    batch.progress_chat_id, batch.progress_message_id = chat_id, message_id
    await NotificationBatch.filter(id=batch.id).update(
        progress_chat_id=chat_id, progress_message_id=message_id
    )


# --- progress --------------------------------------------------------------------------------


async def counts(batch_id: int) -> Counter[str]:
    rows = (
        await Notification.filter(batch_id=batch_id)
        .annotate(n=Count("id"))
        .group_by("state")
        .values_list("state", "n")
    )
    return Counter({str(state): int(n) for state, n in rows})


def summary(batch: NotificationBatch, found: Counter[str]) -> BatchOut:
    remaining = found[S.QUEUED] + found[S.SENDING]
    return BatchOut(
        id=batch.id,
        type=batch.type,
        channel=batch.channel,
        total=batch.total,
        queued=found[S.QUEUED],
        sending=found[S.SENDING],
        sent=found[S.SENT],
        delivered=found[S.DELIVERED],
        failed=found[S.FAILED],
        unconfirmed=found[S.UNCONFIRMED],
        remaining=remaining,
        done=remaining == 0,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
    )


async def progress(seller_id: int, batch_id: int) -> BatchOut:
    batch = await NotificationBatch.get_or_none(id=batch_id, seller_id=seller_id)
    if batch is None:
        raise NotFound("batch not found")
    state = summary(batch, await counts(batch.id))
    if state.done and batch.finished_at is None and batch.progress_message_id is None:
        batch.finished_at = datetime.now(UTC)
        await NotificationBatch.filter(id=batch.id).update(finished_at=batch.finished_at)
        state.finished_at = batch.finished_at
    return state


def progress_text(state: BatchOut, language: str) -> str:
    """What the seller's progress message says (unconfirmed rows count as sent: they most
    likely arrived, and the REST view shows them apart)."""
    sent = state.sent + state.delivered + state.unconfirmed
    values: dict[str, Any] = {
        "total": state.total,
        "sent": sent,
        "failed": state.failed,
        "remaining": state.remaining,
    }
    key = "notifications.progress_done" if state.done else "notifications.progress"
    return t(key, language, **values)


async def open_progress_batches(limit: int = 50) -> list[NotificationBatch]:
    return list(
        await NotificationBatch.filter(finished_at__isnull=True, progress_message_id__isnull=False)
        .order_by("id")
        .limit(limit)
    )


async def finish(batch: NotificationBatch, text: str, done: bool) -> None:
    changes: dict[str, Any] = {"progress_text": text}
    if done:
        changes["finished_at"] = datetime.now(UTC)
    await NotificationBatch.filter(id=batch.id).update(**changes)

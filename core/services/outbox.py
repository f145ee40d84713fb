"""The outbox table's life: rows in, claimed by a worker, out as sent, failed or unconfirmed.

Exactly-once, as far as a channel without idempotency keys allows it
-------------------------------------------------------------------
1. `enqueue` writes one row per message and recipient, in the caller's transaction, with a
   UNIQUE `dedupe_key`: an event or a repeated API call never enqueues twice.
2. `claim` moves due rows to `sending` under a lease (`claimed_by`, `lease_until`) in one
   transaction: on PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`, on SQLite the single
   writer (BEGIN IMMEDIATE). Two workers never claim the same row.
3. Right before the channel is called, `begin_attempts` stamps `dispatched_at` (and counts
   the attempt) only where this worker still holds the row. Right after the answer one
   UPDATE records it (`mark_sent_many`, `retry_later`, `fail`). The worker groups these
   writes: the stamps of messages handed over within 2 ms, the answers within 10 ms.
4. A live worker renews the leases of the rows it still works on. When a worker dies its
   leases expire and `recover_expired` looks at each row:
   - `dispatched_at` empty: the channel was never called, the row goes back to `queued`
     (at-least-once is free here: nothing was sent);
   - `dispatched_at` set: the channel may have taken the message. No channel we use can
     be asked afterwards whether it did (Telegram and WhatsApp have no lookup, Eskiz's
     status needs the id we did not store), so such rows become `unconfirmed` and are
     never resent on their own: at-most-once. `RESEND_AFTER_CRASH` is the switch per
     channel should one gain idempotency keys.
   That window holds the messages in flight, the few stamped ones waiting for a window
   permit (`delivery.ARMED`) and answers not yet written (10 ms). A graceful stop closes
   it: in-flight sends finish and are recorded, the rest is released untouched.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F

from core import db
from core.models import Channel, DeliveryState, MessageType, Notification

S = DeliveryState
RESEND_AFTER_CRASH: dict[Channel, bool] = {
    Channel.TELEGRAM: False,
    Channel.SMS: False,
    Channel.WHATSAPP: False,
}
UNCONFIRMED_REASON = "the worker stopped while the channel had the message: outcome unknown"
# Lower goes first: one-time codes, then order and payment news, then bulk.
PRIORITY_OTP = 0
PRIORITY_TRANSACTIONAL = 3
PRIORITY_BULK = 7
_CHUNK = 500
_CODE = re.compile(r"\b\d{4,8}\b")


def now() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    """A name for this worker, unique across hosts and restarts."""
    return f"{socket.gethostname()[:30]}:{uuid.uuid4().hex[:12]}"


@dataclass(slots=True)
class Outgoing:
    """One message to enqueue; `refused` records it as failed at once with that reason."""

    channel: Channel
    recipient: str
    type: MessageType
    text: str
    language: str = "uz"
    payload: dict[str, Any] = field(default_factory=dict)
    customer_id: int | None = None
    priority: int = PRIORITY_TRANSACTIONAL
    dedupe_key: str | None = None
    refused: str | None = None


def _row(seller_id: int, item: Outgoing, batch_id: int | None, at: datetime) -> Notification:
    return Notification(
        seller_id=seller_id,
        batch_id=batch_id,
        customer_id=item.customer_id,
        channel=item.channel,
        recipient=item.recipient,
        type=item.type.value,
        language=item.language,
        text=item.text,
        payload=item.payload,
        priority=item.priority,
        state=S.FAILED if item.refused else S.QUEUED,
        last_error=item.refused,
        next_attempt_at=at,
        dedupe_key=item.dedupe_key or f"u:{uuid.uuid4().hex}",
    )


async def enqueue(
    seller_id: int,
    items: Sequence[Outgoing],
    *,
    batch_id: int | None = None,
    using_db: Any = None,
    fetch: bool = True,
) -> list[Notification]:
    """Write the rows (a dedupe key already present is skipped); returns them unless not `fetch`.

    Inserts ignore conflicts, so a repeated key inside the caller's transaction never
    aborts it (PostgreSQL would otherwise fail the whole transaction).
    """
    at = now()
    rows = [_row(seller_id, item, batch_id, at) for item in items]
    await Notification.bulk_create(
        rows, ignore_conflicts=True, using_db=using_db, batch_size=_CHUNK
    )
    if not fetch:
        return []
    keys = [row.dedupe_key for row in rows]
    found: list[Notification] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found.extend(await Notification.filter(dedupe_key__in=chunk).using_db(using_db))
    order = {key: index for index, key in enumerate(keys)}
    return sorted(found, key=lambda row: order[row.dedupe_key])


async def sent_today(seller_id: int, channel: Channel, using_db: Any = None) -> int:
    """Messages of a channel the seller enqueued since midnight UTC that count against the cap.

    Rows refused before any attempt (failed with no attempt) do not count.
    """
    start = now().replace(hour=0, minute=0, second=0, microsecond=0)
    base = Notification.filter(seller_id=seller_id, channel=channel, created_at__gte=start)
    total = await base.using_db(using_db).count()
    refused = await base.filter(state=S.FAILED, attempts=0).using_db(using_db).count()
    return total - refused


# --- the worker's side ---------------------------------------------------------------------


async def claim(
    channel: Channel, worker: str, limit: int, lease_seconds: float
) -> list[Notification]:
    """Take up to `limit` due rows of a channel for this worker, most urgent first."""
    at = now()
    async with db.atomic() as conn:
        due = Notification.filter(channel=channel, state=S.QUEUED, next_attempt_at__lte=at)
        rows = await db.claimable(
            due.order_by("priority", "next_attempt_at", "id").limit(limit).using_db(conn)
        )
        if not rows:
            return []
        lease = at + timedelta(seconds=lease_seconds)
        await (
            Notification.filter(id__in=[row.id for row in rows])
            .using_db(conn)
            .update(state=S.SENDING, claimed_by=worker, lease_until=lease, dispatched_at=None)
        )
    for row in rows:
        row.state, row.claimed_by, row.lease_until = S.SENDING, worker, lease
    return rows


async def renew(worker: str, lease_seconds: float, ids: Sequence[int]) -> int:
    """Extend this worker's leases on the rows it still works on (the others run out)."""
    lease = now() + timedelta(seconds=lease_seconds)
    renewed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        renewed += await Notification.filter(
            id__in=chunk, claimed_by=worker, state=S.SENDING
        ).update(lease_until=lease)
    return renewed


# The two statements around every send are the hot path: plain SQL, no query building, and
# one statement for every message handed over (or answered) within a few milliseconds.
_BEGIN = (
    "UPDATE notifications SET dispatched_at = ?, attempts = attempts + 1"
    " WHERE claimed_by = ? AND state = 'sending' AND id IN ({ids}) RETURNING id"
)
_SENT = (
    "UPDATE notifications SET state = 'sent', provider_message_id = CASE id {cases} END,"
    " sent_at = ?, claimed_by = NULL, lease_until = NULL, last_error = NULL"
    " WHERE claimed_by = ? AND id IN ({ids})"
)


async def begin_attempts(rows: Sequence[Notification], worker: str) -> set[int]:
    """Mark rows as handed to the channel; the ids this worker still held (the others must
    not be sent: their lease went to another worker)."""
    if not rows:
        return set()
    at = now()
    marks = ", ".join("?" for _ in rows)
    # execute_query_dict: the rows of UPDATE ... RETURNING on both backends.
    found = await db.connection().execute_query_dict(
        db.sql(_BEGIN.format(ids=marks)), [at, worker, *(row.id for row in rows)]
    )
    taken = {int(record["id"]) for record in found}
    for row in rows:
        if row.id in taken:
            row.dispatched_at, row.attempts = at, row.attempts + 1
    return taken


async def begin_attempt(row: Notification, worker: str) -> bool:
    return row.id in await begin_attempts([row], worker)


def _scrubbed(row: Notification) -> dict[str, Any]:
    """A one-time code does not stay readable in the outbox once the row is settled."""
    if row.type != MessageType.OTP.value:
        return {}
    return {"text": _CODE.sub("******", row.text)}


async def mark_sent_many(answers: Sequence[tuple[Notification, str | None]], worker: str) -> None:
    """Record accepted messages, in one statement."""
    if not answers:
        return
    at = now()
    for row, _ in answers:
        if row.type == MessageType.OTP.value:
            await Notification.filter(id=row.id, claimed_by=worker).update(**_scrubbed(row))
    cases = " ".join("WHEN ? THEN ?" for _ in answers)
    ids = ", ".join("?" for _ in answers)
    values: list[Any] = [value for row, provider_id in answers for value in (row.id, provider_id)]
    values += [at, worker, *(row.id for row, _ in answers)]
    await db.connection().execute_query(db.sql(_SENT.format(cases=cases, ids=ids)), values)
    for row, provider_id in answers:
        row.state, row.sent_at, row.provider_message_id = S.SENT, at, provider_id


async def mark_sent(row: Notification, worker: str, provider_id: str | None) -> None:
    await mark_sent_many([(row, provider_id)], worker)


async def retry_later(
    row: Notification,
    worker: str,
    delay: float,
    error: str,
    *,
    failed: bool,
    payload: dict[str, Any] | None = None,
) -> None:
    """Back to the queue after `delay` seconds; `failed` counts it towards giving up."""
    changes: dict[str, Any] = {
        "state": S.QUEUED,
        "next_attempt_at": now() + timedelta(seconds=delay),
        "claimed_by": None,
        "lease_until": None,
        "dispatched_at": None,
        "last_error": error[:500],
    }
    if failed:
        changes["failures"] = F("failures") + 1
    if payload is not None:
        changes["payload"] = payload
    await Notification.filter(id=row.id, claimed_by=worker).update(**changes)


async def fail(row: Notification, worker: str, reason: str) -> None:
    await Notification.filter(id=row.id, claimed_by=worker).update(
        **_scrubbed(row),
        state=S.FAILED,
        last_error=reason[:500],
        claimed_by=None,
        lease_until=None,
    )
    row.state = S.FAILED


async def release(rows: Sequence[Notification], worker: str, delay: float = 0.0) -> int:
    """Give back claimed rows that were never handed to the channel."""
    if not rows:
        return 0
    return await Notification.filter(
        id__in=[row.id for row in rows], claimed_by=worker, state=S.SENDING
    ).update(
        state=S.QUEUED,
        claimed_by=None,
        lease_until=None,
        dispatched_at=None,
        next_attempt_at=now() + timedelta(seconds=delay),
    )


async def recover_expired() -> tuple[int, int]:
    """Settle rows whose worker's lease ran out: (requeued, marked unconfirmed)."""
    at = now()
    expired = Notification.filter(state=S.SENDING, lease_until__lt=at)
    requeued = await expired.filter(dispatched_at__isnull=True).update(
        state=S.QUEUED, claimed_by=None, lease_until=None, next_attempt_at=at
    )
    unsafe = [channel for channel, safe in RESEND_AFTER_CRASH.items() if not safe]
    safe = [channel for channel, ok in RESEND_AFTER_CRASH.items() if ok]
    if safe:
        requeued += await expired.filter(dispatched_at__isnull=False, channel__in=safe).update(
            state=S.QUEUED,
            claimed_by=None,
            lease_until=None,
            dispatched_at=None,
            next_attempt_at=at,
        )
    unconfirmed = await expired.filter(dispatched_at__isnull=False, channel__in=unsafe).update(
        state=S.UNCONFIRMED, lease_until=None, last_error=UNCONFIRMED_REASON
    )
    return requeued, unconfirmed

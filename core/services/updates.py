"""Exactly-once processing of Telegram updates delivered by webhook.

Telegram delivers an update again when it got no 2xx in time, and with several web
processes behind a load balancer the repeat may reach another process. Before processing,
the web process claims the update in the database (the claim survives a Redis restart):

- `claim` -> TAKEN: process it, then `finish` (the repeat will be acknowledged unprocessed)
  or, on failure, `release` (the repeat will be processed);
- DONE: processed already, acknowledge;
- BUSY: another process is on it right now: answer non-2xx so that Telegram asks again.

A claim older than `stale_after` seconds belongs to a process that died mid-update and is
taken over.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise.exceptions import IntegrityError

from core.metrics import queue_depth
from core.models import ProcessedUpdate, UpdateState

KEEP_FOR = timedelta(days=2)


class Claim(StrEnum):
    TAKEN = "taken"
    DONE = "done"
    BUSY = "busy"


async def claim(bot_id: int, update_id: int, *, stale_after: float) -> Claim:
    """Take the update for processing, unless it is done or in progress elsewhere."""
    now = datetime.now(UTC)
    try:
        await ProcessedUpdate.create(bot_id=bot_id, update_id=update_id, claimed_at=now)
        return Claim.TAKEN
    except IntegrityError:
        pass
    row = await ProcessedUpdate.get_or_none(bot_id=bot_id, update_id=update_id)
    if row is None:
        return Claim.BUSY  # released a moment ago: the next delivery takes it
    if row.state == UpdateState.DONE:
        return Claim.DONE
    taken = await ProcessedUpdate.filter(
        id=row.id,
        state=UpdateState.PROCESSING,
        claimed_at__lt=now - timedelta(seconds=stale_after),
    ).update(claimed_at=now)
    return Claim.TAKEN if taken else Claim.BUSY


async def finish(bot_id: int, update_id: int) -> None:
    await ProcessedUpdate.filter(bot_id=bot_id, update_id=update_id).update(state=UpdateState.DONE)


async def release(bot_id: int, update_id: int) -> None:
    await ProcessedUpdate.filter(
        bot_id=bot_id, update_id=update_id, state=UpdateState.PROCESSING
    ).delete()


async def purge_old() -> int:
    return await ProcessedUpdate.filter(claimed_at__lt=datetime.now(UTC) - KEEP_FOR).delete()


@queue_depth("telegram_updates_in_progress")
async def in_progress() -> int:
    return await ProcessedUpdate.filter(state=UpdateState.PROCESSING).count()

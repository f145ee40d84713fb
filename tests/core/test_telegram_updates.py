"""Claims on Telegram updates: taken once, done once, handed over when stale."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.models import ProcessedUpdate, UpdateState
from core.services import updates
from core.services.updates import Claim


async def test_first_delivery_takes_the_update_and_a_repeat_finds_it_done(database: None) -> None:
    assert await updates.claim(1, 100, stale_after=60) is Claim.TAKEN
    assert await updates.claim(1, 100, stale_after=60) is Claim.BUSY
    await updates.finish(1, 100)
    assert await updates.claim(1, 100, stale_after=60) is Claim.DONE
    # Another bot's update with the same id is another update.
    assert await updates.claim(2, 100, stale_after=60) is Claim.TAKEN


async def test_a_released_update_is_taken_again(database: None) -> None:
    await updates.claim(1, 5, stale_after=60)
    await updates.release(1, 5)
    assert await updates.claim(1, 5, stale_after=60) is Claim.TAKEN


async def test_release_never_undoes_a_finished_update(database: None) -> None:
    await updates.claim(1, 6, stale_after=60)
    await updates.finish(1, 6)
    await updates.release(1, 6)
    assert await updates.claim(1, 6, stale_after=60) is Claim.DONE


async def test_a_stale_claim_is_taken_over_once(database: None) -> None:
    await updates.claim(1, 7, stale_after=60)
    old = datetime.now(UTC) - timedelta(seconds=120)
    await ProcessedUpdate.filter(update_id=7).update(claimed_at=old)

    results = await asyncio.gather(*(updates.claim(1, 7, stale_after=60) for _ in range(3)))

    assert sorted(results) == sorted([Claim.TAKEN, Claim.BUSY, Claim.BUSY])


async def test_concurrent_first_deliveries_take_it_once(database: None) -> None:
    results = await asyncio.gather(*(updates.claim(9, 1, stale_after=60) for _ in range(4)))
    assert results.count(Claim.TAKEN) == 1


async def test_purge_keeps_recent_claims_and_in_progress_counts(database: None) -> None:
    await updates.claim(1, 1, stale_after=60)
    await updates.claim(1, 2, stale_after=60)
    await updates.finish(1, 2)
    await ProcessedUpdate.create(
        bot_id=1,
        update_id=3,
        state=UpdateState.DONE,
        claimed_at=datetime.now(UTC) - timedelta(days=3),
    )

    assert await updates.purge_old() == 1
    assert await updates.in_progress() == 1

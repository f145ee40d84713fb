"""One scheduler among many workers: the Redis lock, leadership and takeover."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING

from core import worker
from core.worker import Leadership, SchedulerLock, Worker

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL", "").strip(), reason="needs REDIS_URL (the PostgreSQL pass)"
)
TTL = 0.6


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2)
    yield redis
    await redis.aclose()


class Candidate:
    """A worker's leadership loop, with a record of when it led."""

    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self.lock = SchedulerLock(redis, key, TTL)
        self.events: list[str] = []
        self.leadership = Leadership(
            self.lock, lambda: self.events.append("gain"), lambda: self.events.append("loss")
        )
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.leadership.run(self.stop))

    async def halt(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 5)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_exactly_one_of_three_leads_and_the_lock_names_it(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    key = redis_prefix + "scheduler:lock"
    candidates = [Candidate(client, key) for _ in range(3)]
    try:
        assert await until(lambda: any(c.leadership.leading for c in candidates))
        await asyncio.sleep(3 * TTL)  # several renewals later, still exactly one

        leaders = [c for c in candidates if c.leadership.leading]
        assert len(leaders) == 1
        assert leaders[0].events == ["gain"]
        assert (await client.get(key)).decode() == leaders[0].lock.identity
    finally:
        for candidate in candidates:
            await candidate.halt()


async def test_a_stopping_leader_hands_over_at_once(
    client: aioredis.Redis, redis_prefix: str
) -> None:
    key = redis_prefix + "scheduler:lock"
    first = Candidate(client, key)
    assert await until(lambda: first.leadership.leading)
    second = Candidate(client, key)
    try:
        await first.halt()  # releases the lock on the way out
        assert first.events == ["gain", "loss"]
        assert await until(lambda: second.leadership.leading, timeout=2 * TTL)
    finally:
        await second.halt()


async def test_a_leader_cut_off_from_redis_pauses_and_another_takes_over_after_expiry(
    client: aioredis.Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = redis_prefix + "scheduler:lock"
    first = Candidate(client, key)
    assert await until(lambda: first.leadership.leading)
    second = Candidate(client, key)

    async def unreachable() -> bool:
        raise redis.exceptions.ConnectionError("redis is down")

    monkeypatch.setattr(first.lock, "hold", unreachable)
    try:
        assert await until(lambda: not first.leadership.leading, timeout=TTL)
        cut_at = time.monotonic()
        assert await until(lambda: second.leadership.leading, timeout=3 * TTL)
        # Never two at once: the second waited for the first one's lock to expire.
        assert time.monotonic() - cut_at > TTL / 3
        assert first.events == ["gain", "loss"]
    finally:
        await first.halt()
        await second.halt()


async def test_worker_scheduler_runs_only_while_it_holds_the_lock(
    client: aioredis.Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "BACKGROUND", {})
    key = redis_prefix + "scheduler:lock"
    await client.set(key, "another-worker", px=int(TTL * 1000))
    runner = Worker(with_scheduler=True, lock=SchedulerLock(client, key, TTL))
    await runner.start()
    try:
        assert runner._scheduler is not None
        assert runner._scheduler.state == STATE_PAUSED  # someone else holds the lock
        scheduler = runner._scheduler
        assert await until(lambda: scheduler.state == STATE_RUNNING)  # theirs expired
    finally:
        await runner.stop()
    assert await client.get(key) is None

"""The pacers: spacing by decision time, pauses, and (with REDIS_URL) one schedule for all."""

from __future__ import annotations

import asyncio
import time

import pytest

from core import redis as shared_redis
from core.services.pacing import MemoryPacer, Pacer, RedisPacer, create_pacer
from core.settings import Settings


async def _spacing(pacer: Pacer, key: str, interval: float, count: int) -> list[float]:
    """Take `count` slots as fast as allowed; the times they were used."""
    times = []
    for _ in range(count):
        taken, wait = await pacer.reserve(key, interval, 10.0)
        assert taken
        await asyncio.sleep(wait)
        times.append(time.monotonic())
    return times


async def test_memory_pacer_spaces_events() -> None:
    pacer = MemoryPacer()

    times = await _spacing(pacer, "telegram", 0.02, 6)

    # Slots are spaced by schedule: the i-th is never used before start + i * interval.
    assert all(at - times[0] >= i * 0.02 - 0.002 for i, at in enumerate(times))


async def test_memory_pacer_refuses_beyond_max_wait_and_takes_nothing() -> None:
    pacer = MemoryPacer()
    assert await pacer.reserve("chat:1", 1.0, 0.0) == (True, 0.0)

    taken, wait = await pacer.reserve("chat:1", 1.0, 0.0)
    again, _ = await pacer.reserve("chat:1", 1.0, 0.0)

    assert (taken, again) == (False, False)
    assert 0.9 < wait <= 1.0
    assert 0.9 < await pacer.free_in("chat:1") <= 1.0
    assert await pacer.free_in("chat:2") == 0.0


async def test_memory_pacer_pause() -> None:
    pacer = MemoryPacer()
    await pacer.pause("sms", 2.0)

    taken, wait = await pacer.reserve("sms", 0.1, 5.0)

    assert taken and 1.9 < wait <= 2.0


async def test_memory_permits_hold_a_window_until_answered_plus_period() -> None:
    pacer = MemoryPacer()
    first, _ = await pacer.acquire("telegram", 2, 30.0)
    second, _ = await pacer.acquire("telegram", 2, 30.0)
    none, wait = await pacer.acquire("telegram", 2, 30.0)
    assert first and second and none is None and wait > 29

    await pacer.release("telegram", first, 0.05)
    still, wait = await pacer.acquire("telegram", 2, 30.0)
    await asyncio.sleep(0.06)
    third, _ = await pacer.acquire("telegram", 2, 30.0)

    assert still is None and 0 < wait <= 0.05
    assert third is not None


async def test_memory_permits_of_a_dead_holder_lapse() -> None:
    pacer = MemoryPacer()
    assert (await pacer.acquire("sms", 1, 0.02))[0] is not None
    await asyncio.sleep(0.03)
    assert (await pacer.acquire("sms", 1, 0.02))[0] is not None


@pytest.fixture
def redis_settings(settings: Settings) -> Settings:
    if not settings.redis_url:
        pytest.skip("REDIS_URL is not set")
    return settings


async def test_redis_pacer_is_shared_by_workers(redis_settings: Settings) -> None:
    first, second = RedisPacer(redis_settings), RedisPacer(redis_settings)
    try:
        assert isinstance(create_pacer(redis_settings), RedisPacer)
        assert (await first.reserve("telegram:9", 1.0, 0.0))[0]

        taken, wait = await second.reserve("telegram:9", 1.0, 0.0)
        await second.pause("telegram", 3.0)
        paused, pause_wait = await first.reserve("telegram", 0.1, 10.0)

        assert not taken and 0.8 < wait <= 1.0
        assert 0.8 < await first.free_in("telegram:9") <= 1.0
        assert paused and 2.8 < pause_wait <= 3.0

        permit, _ = await first.acquire("whatsapp", 1, 30.0)
        refused, hint = await second.acquire("whatsapp", 1, 30.0)
        assert permit is not None and refused is None and hint > 29
        await first.release("whatsapp", permit, 0.05)
        await asyncio.sleep(0.08)
        assert (await second.acquire("whatsapp", 1, 30.0))[0] is not None
    finally:
        await shared_redis.close_redis()


async def test_redis_pacer_spacing_across_two_pacers(redis_settings: Settings) -> None:
    pacers = [RedisPacer(redis_settings), RedisPacer(redis_settings)]
    times: list[float] = []

    async def take(pacer: Pacer) -> None:
        for _ in range(4):
            taken, wait = await pacer.reserve("whatsapp", 0.03, 10.0)
            assert taken
            await asyncio.sleep(wait)
            times.append(time.monotonic())

    try:
        await asyncio.gather(*(take(p) for p in pacers))
    finally:
        await shared_redis.close_redis()
    times.sort()
    assert times[-1] - times[0] >= 0.03 * 7 * 0.9

"""Counters of core.services.throttle, in memory and (when reachable) in Redis."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
import redis

from core.errors import DailyCapReached, ServiceUnavailable, TooManyRequests
from core.redis import close_redis
from core.services import throttle
from core.settings import Settings


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as probe:
            probe.ping()
    except redis.RedisError:
        return None
    return url


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[str]:
    """The current settings' counters, in memory or in Redis."""
    if request.param == "redis":
        url = _redis_url()
        if url is None:
            pytest.skip("no Redis on REDIS_URL or 127.0.0.1:6379")
        settings.redis_url = url
    else:
        settings.redis_url = None
    yield request.param
    await throttle.close_shared()
    await close_redis()
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        keys = list(client.scan_iter(match=settings.redis_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def test_hit_counts_up_to_the_limit_then_refuses(store: str) -> None:
    windows = [await throttle.hit("export:7", limit=3, window_seconds=60) for _ in range(3)]
    with pytest.raises(TooManyRequests) as refused:
        await throttle.hit("export:7", limit=3, window_seconds=60)

    assert [w.remaining for w in windows] == [2, 1, 0]
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.status == 429
    # Another key is another count.
    assert (await throttle.hit("export:8", limit=3, window_seconds=60)).remaining == 2


async def test_refused_hits_are_not_counted_and_the_window_moves(store: str) -> None:
    await throttle.hit("k", limit=2, window_seconds=1)
    await throttle.hit("k", limit=2, window_seconds=1)
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            await throttle.hit("k", limit=2, window_seconds=1)
    await asyncio.sleep(1.1)
    assert (await throttle.hit("k", limit=2, window_seconds=1)).remaining == 1


async def test_check_and_reset(store: str) -> None:
    assert (await throttle.check("c", 1, 60)).remaining == 1
    await throttle.hit("c", 1, 60)
    with pytest.raises(TooManyRequests):
        await throttle.check("c", 1, 60)
    await throttle.reset("c", 1, 60)
    assert (await throttle.check("c", 1, 60)).remaining == 1


async def test_daily_caps_are_per_seller_and_kind(store: str) -> None:
    assert await throttle.consume_daily(1, "sms", cap=3) == 2
    assert await throttle.consume_daily(1, "sms", cap=3, amount=2) == 0
    with pytest.raises(DailyCapReached) as spent:
        await throttle.consume_daily(1, "sms", cap=3)

    assert spent.value.code == "daily_cap_reached"
    assert spent.value.status == 429
    assert 1 <= spent.value.retry_after <= 24 * 3600
    assert spent.value.details["kind"] == "sms"
    assert await throttle.consume_daily(2, "sms", cap=3) == 2
    assert await throttle.consume_daily(1, "whatsapp", cap=3) == 2
    assert await throttle.daily_remaining(1, "sms", cap=3) == 0


async def test_a_refused_batch_takes_nothing(store: str) -> None:
    await throttle.consume_daily(5, "video", cap=10, amount=8)
    with pytest.raises(DailyCapReached):
        await throttle.consume_daily(5, "video", cap=10, amount=3)
    assert await throttle.consume_daily(5, "video", cap=10, amount=2) == 0


@pytest.mark.parametrize(("cap", "amount"), [(0, 1), (-1, 1), (5, 6)])
async def test_a_cap_that_cannot_fit_is_refused_outright(
    store: str, cap: int, amount: int
) -> None:
    with pytest.raises(DailyCapReached):
        await throttle.consume_daily(9, "sms", cap=cap, amount=amount)


async def test_unknown_daily_kinds_are_a_programming_error(store: str) -> None:
    with pytest.raises(ValueError):
        await throttle.consume_daily(1, "fax", cap=3)


async def test_otp_requests_are_capped_per_phone_per_hour(store: str, settings: Settings) -> None:
    settings.otp_per_phone_per_hour = 3
    for _ in range(3):
        await throttle.hit_otp("998901234567")
    with pytest.raises(TooManyRequests) as refused:
        await throttle.hit_otp("998901234567")
    assert 1 <= refused.value.retry_after <= 3600
    await throttle.hit_otp("998907654321")


async def test_a_dead_redis_fails_closed(settings: Settings, unused_tcp_port: int) -> None:
    settings.redis_url = f"redis://127.0.0.1:{unused_tcp_port}/0"
    settings.redis_timeout = 0.3
    settings.rate_limit_timeout = 0.3
    try:
        with pytest.raises(ServiceUnavailable):
            await throttle.hit("k", 5, 60)
        with pytest.raises(ServiceUnavailable):
            await throttle.consume_daily(1, "sms", cap=5)
        assert await throttle.shared_store().ping() is False
    finally:
        await throttle.close_shared()
        await close_redis()

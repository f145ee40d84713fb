"""core.redis (the shared client), core.cache and the rate-limit storage factory."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from core import cache as cache_module
from core import redis as shared_redis
from core.settings import Settings

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL (the PostgreSQL pass)")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(prefix: str, url: str | None = REDIS_URL or None, **extra: object) -> Settings:
    return Settings(_env_file=None, redis_url=url, redis_prefix=prefix, **extra)  # type: ignore[call-arg, arg-type]


@pytest.fixture
async def redis_settings(redis_prefix: str) -> AsyncIterator[Settings]:
    yield make_settings(redis_prefix)
    await shared_redis.close_redis()


@pytest.fixture
def dead_redis(redis_prefix: str) -> Iterator[Settings]:
    yield make_settings(
        redis_prefix, url=f"redis://127.0.0.1:{closed_port()}/0", redis_timeout=0.5
    )


async def test_key_joins_the_prefix_and_parts() -> None:
    settings = make_settings("scx:", url=None)
    assert shared_redis.key(settings, "session", "seller", 7) == "scx:session:seller:7"


@needs_redis
async def test_one_client_per_process_and_loop(redis_settings: Settings) -> None:
    first = shared_redis.get_redis(redis_settings)
    assert shared_redis.get_redis(redis_settings) is first
    assert await shared_redis.ping(redis_settings) is True
    await shared_redis.close_redis()
    assert shared_redis.get_redis(redis_settings) is not first


async def test_ping_of_a_dead_redis_is_false_and_fast(dead_redis: Settings) -> None:
    started = time.monotonic()
    assert await shared_redis.ping(dead_redis) is False
    await shared_redis.close_redis()
    assert time.monotonic() - started < 2


async def test_a_hanging_redis_fails_within_the_timeout(redis_prefix: str) -> None:
    """A server that accepts and never answers: the command fails after REDIS_TIMEOUT."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = make_settings(redis_prefix, url=f"redis://127.0.0.1:{port}/0", redis_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(shared_redis.REDIS_ERRORS):
            await shared_redis.get_redis(settings).get("x")
        assert time.monotonic() - started < 2
    finally:
        await shared_redis.close_redis()
        server.close()


async def test_rate_limit_storage_is_memory_without_redis() -> None:
    assert isinstance(
        shared_redis.create_rate_limit_storage(make_settings("p:", url=None)), MemoryStorage
    )


@needs_redis
async def test_rate_limit_storage_counts_in_redis_under_the_prefix(
    redis_settings: Settings,
) -> None:
    storage = shared_redis.create_rate_limit_storage(redis_settings)
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerMinute(2)

    results = [await limiter.hit(item, "seller", "1") for _ in range(3)]

    assert isinstance(storage, RedisStorage)
    assert results == [True, True, False]
    client = shared_redis.get_redis(redis_settings)
    keys = [k async for k in client.scan_iter(match=redis_settings.redis_prefix + "*")]
    assert keys, "the counters live under this deployment's prefix"


async def test_memory_cache_expires_and_forgets() -> None:
    cache = cache_module.MemoryCache(max_items=2)
    await cache.set("a", "1", ttl=60)
    await cache.set("b", "2", ttl=0.01)
    await asyncio.sleep(0.02)
    await cache.set("c", "3", ttl=60)
    await cache.set("d", "4", ttl=60)
    assert [await cache.get(k) for k in "abcd"] == [None, None, "3", "4"]


@needs_redis
async def test_redis_cache_is_shared_and_expires(redis_settings: Settings) -> None:
    writer, reader = (
        cache_module.RedisCache(redis_settings),
        cache_module.RedisCache(redis_settings),
    )
    await writer.set("eskiz:token", "t-1", ttl=0.2)
    assert await reader.get("eskiz:token") == "t-1"
    await asyncio.sleep(0.3)
    assert await reader.get("eskiz:token") is None


async def test_cached_json_calls_the_producer_once() -> None:
    cache = cache_module.MemoryCache()
    calls = 0

    async def produce() -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"price": 1000}

    values = [await cache_module.cached_json(cache, "wb:tea", 60, produce) for _ in range(3)]
    assert values == [{"price": 1000}] * 3
    assert calls == 1


async def test_a_dead_redis_cache_is_a_miss_not_an_error(dead_redis: Settings) -> None:
    cache = cache_module.get_cache(dead_redis)
    await cache.set("k", "v", ttl=10)
    assert await cache.get("k") is None
    value = await cache_module.cached_json(cache, "k", 10, _fetch_fresh)
    await shared_redis.close_redis()
    assert value == ["fresh"]


async def _fetch_fresh() -> list[str]:
    return ["fresh"]

"""RedisSessions: the scale-out session store, with its per-seller index."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest

from core import redis as shared_redis
from core.services.sessions import (
    DatabaseSessions,
    RedisSessions,
    SessionRecord,
    backend_for,
    hash_key,
    new_key,
)
from core.settings import Settings

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL", "").strip(), reason="needs REDIS_URL (the PostgreSQL pass)"
)


@pytest.fixture
async def store(redis_prefix: str) -> AsyncIterator[RedisSessions]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=os.environ["REDIS_URL"],
        redis_prefix=redis_prefix,
        session_idle_timeout=3600,
    )
    backend = backend_for(settings)
    assert isinstance(backend, RedisSessions)
    yield backend
    await shared_redis.close_redis()


def record(seller_id: int | None = 1, lifetime: float = 600, **data: object) -> SessionRecord:
    now = time.time()
    return SessionRecord(seller_id, now, now + lifetime, now, dict(data))


def test_without_redis_sessions_live_in_the_database() -> None:
    settings = Settings(_env_file=None, redis_url=None)  # type: ignore[call-arg]
    assert isinstance(backend_for(settings), DatabaseSessions)


async def test_save_and_load_round_trip(store: RedisSessions) -> None:
    key = hash_key(new_key())
    saved = record(7, cart="x")
    await store.save(key, saved)
    assert await store.load(key) == saved
    assert await store.load(hash_key(new_key())) is None


async def test_a_key_expires_with_the_session(store: RedisSessions) -> None:
    key = hash_key(new_key())
    await store.save(key, record(lifetime=1.2))
    ttl = await store._redis.ttl(store._key(key))
    assert 1 <= ttl <= 2


async def test_the_idle_timeout_bounds_the_key_too(store: RedisSessions) -> None:
    key = hash_key(new_key())
    await store.save(key, record(lifetime=30 * 24 * 3600))
    assert 3500 <= await store._redis.ttl(store._key(key)) <= 3600


async def test_touch_never_brings_back_an_ended_session(store: RedisSessions) -> None:
    key = hash_key(new_key())
    live = record(3)
    await store.save(key, live)
    await store.delete_for_seller(3)

    live.last_seen = time.time()
    await store.touch(key, live)

    assert await store.load(key) is None


async def test_delete_for_seller_keeps_the_current_and_other_sellers(
    store: RedisSessions,
) -> None:
    mine = [hash_key(new_key()) for _ in range(3)]
    theirs = hash_key(new_key())
    for key in mine:
        await store.save(key, record(1))
    await store.save(theirs, record(2))
    await store.delete(mine[0])

    ended = await store.delete_for_seller(1, keep=mine[1])

    assert ended == 1  # mine[2]; mine[0] was already gone and is not counted
    assert [await store.load(k) is not None for k in mine] == [False, True, False]
    assert await store.load(theirs) is not None


async def test_the_seller_index_expires_with_the_longest_session(store: RedisSessions) -> None:
    await store.save(hash_key(new_key()), record(5, lifetime=100))
    await store.save(hash_key(new_key()), record(5, lifetime=50))
    assert 95 <= await store._redis.ttl(store._seller_key(5)) <= 100

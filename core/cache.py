"""A small key-value cache with expiry: marketplace answers, provider tokens.

In Redis when `REDIS_URL` is set (every process sees what one fetched), else in this
process's memory. A cache is an optimisation: when Redis is down, reads miss and writes
are dropped (with a warning), so the caller fetches again instead of failing.

    cache = get_cache()
    token = await cache.get("eskiz:token")
    await cache.set("eskiz:token", token, ttl=29 * 24 * 3600)
    report = await cached_json(cache, "wb:search:iphone", 600, lambda: fetch("iphone"))
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from core import redis as shared_redis
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def delete(self, key: str) -> None: ...


class MemoryCache:
    """A bounded in-process cache (the embedded mode)."""

    def __init__(self, max_items: int = 10_000) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max_items = max_items

    async def get(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            del self._items[key]
            return None
        return item[1]

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max_items:
            self._items.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


class RedisCache:
    """The shared cache of scale-out mode; a Redis failure is a miss, never an error."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _key(self, key: str) -> str:
        return shared_redis.key(self._settings, "cache", key)

    async def get(self, key: str) -> str | None:
        try:
            raw = await shared_redis.get_redis(self._settings).get(self._key(key))
        except shared_redis.REDIS_ERRORS:
            log.warning("cache read failed key=%s", key)
            return None
        return raw.decode() if isinstance(raw, bytes) else raw

    async def set(self, key: str, value: str, ttl: float) -> None:
        try:
            await shared_redis.get_redis(self._settings).set(
                self._key(key), value, px=max(1, int(ttl * 1000))
            )
        except shared_redis.REDIS_ERRORS:
            log.warning("cache write failed key=%s", key)

    async def delete(self, key: str) -> None:
        try:
            await shared_redis.get_redis(self._settings).delete(self._key(key))
        except shared_redis.REDIS_ERRORS:
            log.warning("cache delete failed key=%s", key)


_memory = MemoryCache()


def get_cache(settings: Settings | None = None) -> Cache:
    """The cache of this process: shared in Redis when configured."""
    settings = settings or get_settings()
    if settings.redis_url:
        return RedisCache(settings)
    return _memory


async def cached_json(
    cache: Cache, key: str, ttl: float, produce: Callable[[], Awaitable[Any]]
) -> Any:
    """The cached JSON value of `key`, or `produce()`'s result, cached for `ttl` seconds."""
    raw = await cache.get(key)
    if raw is not None:
        return json.loads(raw)
    value = await produce()
    await cache.set(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")), ttl)
    return value

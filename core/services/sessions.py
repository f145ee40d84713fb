"""Server-side web sessions. The cookie holds an opaque key; only its SHA-256 is stored.

Two backends share one interface: the database (embedded default) and Redis (scale-out).
Expiry is both absolute (`expires_at`) and idle (`last_seen` older than the idle timeout).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from core.models import WebSession
from core.settings import Settings

# Touching last_seen on every request would turn each read into a write.
TOUCH_INTERVAL = 60


def new_key() -> str:
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(slots=True)
class SessionRecord:
    seller_id: int | None
    created: float
    expires: float
    last_seen: float
    data: dict[str, Any] = field(default_factory=dict)

    def alive(self, now: float, idle_timeout: int) -> bool:
        return now < self.expires and now - self.last_seen < idle_timeout


class SessionBackend(Protocol):
    async def load(self, key_hash: str) -> SessionRecord | None: ...
    async def save(self, key_hash: str, record: SessionRecord) -> None: ...
    async def touch(self, key_hash: str, record: SessionRecord) -> None: ...
    async def delete(self, key_hash: str) -> None: ...
    async def delete_for_seller(self, seller_id: int, keep: str | None = None) -> int: ...


def _ts(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class DatabaseSessions:
    """Sessions in the `web_sessions` table, with a small read cache for this one process.

    The cache is safe because the database backend is the single-process mode: every
    write and delete of a session goes through this object, which updates the cache too.
    """

    # One cache per process, shared by every app instance in it.
    _cache: OrderedDict[str, SessionRecord] = OrderedDict()
    _cache_size = 4096

    def _remember(self, key_hash: str, record: SessionRecord) -> None:
        self._cache[key_hash] = record
        self._cache.move_to_end(key_hash)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def load(self, key_hash: str) -> SessionRecord | None:
        cached = self._cache.get(key_hash)
        if cached is not None:
            return cached
        row = await WebSession.get_or_none(key_hash=key_hash)
        if row is None:
            return None
        record = SessionRecord(
            seller_id=row.seller_id,
            created=_ts(row.created_at),
            expires=_ts(row.expires_at),
            last_seen=_ts(row.last_seen_at),
            data=dict(row.data or {}),
        )
        self._remember(key_hash, record)
        return record

    async def save(self, key_hash: str, record: SessionRecord) -> None:
        await WebSession.update_or_create(
            key_hash=key_hash,
            defaults={
                "seller_id": record.seller_id,
                "data": record.data,
                "last_seen_at": _dt(record.last_seen),
                "expires_at": _dt(record.expires),
            },
        )
        self._remember(key_hash, record)

    async def touch(self, key_hash: str, record: SessionRecord) -> None:
        await WebSession.filter(key_hash=key_hash).update(last_seen_at=_dt(record.last_seen))
        self._remember(key_hash, record)

    async def delete(self, key_hash: str) -> None:
        self._cache.pop(key_hash, None)
        await WebSession.filter(key_hash=key_hash).delete()

    async def delete_for_seller(self, seller_id: int, keep: str | None = None) -> int:
        for key, record in list(self._cache.items()):
            if record.seller_id == seller_id and key != keep:
                del self._cache[key]
        qs = WebSession.filter(seller_id=seller_id)
        if keep:
            qs = qs.exclude(key_hash=keep)
        return await qs.delete()

    async def purge_expired(self) -> int:
        return await WebSession.filter(expires_at__lt=datetime.now(UTC)).delete()


class RedisSessions:
    """Sessions in Redis (scale-out): one key per session, plus a set of keys per seller.

    Why not aiohttp-session's own RedisStorage: it keys sessions by the cookie value and
    knows nothing of their owner, so "log out everywhere" and "a password change ends the
    other sessions" would need a scan of every session. Here the cookie's key is stored
    only as its SHA-256, and `{prefix}seller:{id}` lists a seller's sessions, so ending
    them all is one set read and one delete, from any web process.

    A session key expires with the session (absolute or idle, whichever comes first). A
    touch only refreshes a key that still exists (SET XX), so a request that loaded a
    session just before another process ended it cannot bring it back.
    """

    def __init__(self, redis: Any, prefix: str = "scx:session:", idle_timeout: int = 0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._idle_timeout = idle_timeout

    def _key(self, key_hash: str) -> str:
        return self._prefix + key_hash

    def _seller_key(self, seller_id: int) -> str:
        return f"{self._prefix}seller:{seller_id}"

    def _ttl(self, record: SessionRecord) -> int:
        ends = record.expires
        if self._idle_timeout:
            ends = min(ends, record.last_seen + self._idle_timeout)
        return max(1, math.ceil(ends - time.time()))

    @staticmethod
    def _dump(record: SessionRecord) -> str:
        return json.dumps(
            {
                "seller_id": record.seller_id,
                "created": record.created,
                "expires": record.expires,
                "last_seen": record.last_seen,
                "data": record.data,
            },
            separators=(",", ":"),
        )

    async def load(self, key_hash: str) -> SessionRecord | None:
        raw = await self._redis.get(self._key(key_hash))
        if raw is None:
            return None
        return SessionRecord(**json.loads(raw))

    async def save(self, key_hash: str, record: SessionRecord) -> None:
        ttl = self._ttl(record)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(key_hash), self._dump(record), ex=ttl)
            if record.seller_id is not None:
                index = self._seller_key(record.seller_id)
                pipe.sadd(index, key_hash)
                # The index lives as long as the longest session in it.
                pipe.expire(index, ttl, nx=True)
                pipe.expire(index, ttl, gt=True)
            await pipe.execute()

    async def touch(self, key_hash: str, record: SessionRecord) -> None:
        payload = self._dump(record)
        await self._redis.set(self._key(key_hash), payload, ex=self._ttl(record), xx=True)

    async def delete(self, key_hash: str) -> None:
        raw = await self._redis.getdel(self._key(key_hash))
        seller_id = json.loads(raw).get("seller_id") if raw else None
        if seller_id is not None:
            await self._redis.srem(self._seller_key(int(seller_id)), key_hash)

    async def delete_for_seller(self, seller_id: int, keep: str | None = None) -> int:
        index = self._seller_key(seller_id)
        members = {_text(m) for m in await self._redis.smembers(index)}
        doomed = sorted(members - {keep} if keep else members)
        if not doomed:
            return 0
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[self._key(k) for k in doomed])
            pipe.srem(index, *doomed)
            deleted, _ = await pipe.execute()
        return int(deleted)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def backend_for(settings: Settings) -> SessionBackend:
    """Redis sessions when REDIS_URL is set (every web process sees them), else the database."""
    if not settings.redis_url:
        return DatabaseSessions()
    from core.redis import get_redis, key

    return RedisSessions(
        get_redis(settings),
        prefix=key(settings, "session", ""),
        idle_timeout=settings.session_idle_timeout,
    )

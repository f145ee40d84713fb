"""The one Redis client of a process: made on first use, shared, closed at shutdown.

Everything that keeps shared state in Redis in scale-out mode takes its client from
`get_redis(settings)`: web sessions, rate-limit counters (`create_rate_limit_storage`), the
bot's FSM and per-chat event isolation, caches and provider tokens (`core.cache`), and the
scheduler lock. Nothing opens a pool of its own.

Every command is bounded by `REDIS_TIMEOUT` (connect and socket timeouts); a closed
connection is retried once, at once (that absorbs a connection that Redis closed while it
was idle, as after a Redis restart), a timeout is not retried. So an outage surfaces
within seconds as one of `REDIS_ERRORS`, which the web layer answers with 503 and the bot
with a redelivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from limits.aio.storage import Storage

log = logging.getLogger(__name__)

REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
MAX_CONNECTIONS = 200
HEALTH_CHECK_INTERVAL = 15

Redis = aioredis.Redis

_client: Redis | None = None
_client_url: str | None = None
_client_loop: asyncio.AbstractEventLoop | None = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def connect(settings: Settings) -> Redis:
    """A new client with this project's timeouts; `get_redis` is the one to use."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    timeout = settings.redis_timeout
    client: Redis = aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # A connection Redis closed (after a restart) is retried once, at once; a command
        # that timed out is not: Redis is hanging, and a retry would double the wait.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=HEALTH_CHECK_INTERVAL,
        max_connections=MAX_CONNECTIONS,
        client_name=f"{settings.redis_prefix.rstrip(':')}-{os.getpid()}",
    )
    return client


def get_redis(settings: Settings | None = None) -> Redis:
    """The process's shared client (one per event loop, since connections belong to one)."""
    global _client, _client_url, _client_loop
    settings = settings or get_settings()
    loop = _running_loop()
    stale = _client is not None and (
        _client_url != settings.redis_url or (loop is not None and _client_loop is not loop)
    )
    if _client is None or stale:
        _client = connect(settings)
        _client_url, _client_loop = settings.redis_url, loop
    elif _client_loop is None:
        _client_loop = loop
    return _client


async def close_redis() -> None:
    """Close the shared client (at shutdown; tests after each test)."""
    global _client, _client_url, _client_loop
    client, _client, _client_url, _client_loop = _client, None, None, None
    if client is not None:
        try:
            await client.aclose()
        except (redis.exceptions.RedisError, RuntimeError):
            log.debug("closing the Redis client failed", exc_info=True)


def key(settings: Settings, *parts: str | int) -> str:
    """A key of this deployment: REDIS_PREFIX, then the parts joined by colons."""
    return settings.redis_prefix + ":".join(str(part) for part in parts)


async def ping(settings: Settings | None = None) -> bool:
    """True when Redis answers (readiness); a failure is logged, never raised."""
    settings = settings or get_settings()
    if not settings.redis_url:
        return True
    try:
        return bool(await cast(Awaitable[bool], get_redis(settings).ping()))
    except (redis.exceptions.RedisError, OSError):
        log.warning("redis ping failed", exc_info=True)
        return False


def create_rate_limit_storage(settings: Settings | None = None) -> Storage:
    """The `limits` storage for rate-limit counters: Redis when configured, else memory.

    The Redis storage rides on the shared connection pool (so it has the same timeouts)
    and does not wrap errors: an outage raises one of REDIS_ERRORS, which the web layer
    turns into 503, so rate-limited endpoints fail closed.
    """
    from limits.aio.storage import MemoryStorage, RedisStorage

    settings = settings or get_settings()
    if not settings.redis_url:
        return MemoryStorage()
    prefix: str = getattr(settings, "rate_limit_prefix", "") or key(settings, "limits")
    options: dict[str, Any] = {"connection_pool": get_redis(settings).connection_pool}
    return RedisStorage(
        "async+" + settings.redis_url,
        implementation="redispy",
        key_prefix=prefix,
        **options,
    )

"""Where the bot keeps dialog state (FSM) and how it serialises one chat's updates.

Embedded mode: in memory, one process. Scale-out: in Redis, so that a dialog started on one
web process continues on another, and a per-chat Redis lock (event isolation) so that two
updates of one chat never run at once, even on two processes. Keys carry the bot id.
"""

from __future__ import annotations

from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

from core.redis import get_redis, key
from core.settings import Settings

# Abandoned dialogs are forgotten after a week.
STATE_TTL = 7 * 24 * 3600


class SharedRedisStorage(RedisStorage):
    """RedisStorage on the process's shared client, which it must not close at shutdown."""

    async def close(self) -> None:
        return None


def create_fsm(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation]:
    """The FSM storage and event isolation for this deployment."""
    if not settings.redis_url:
        return MemoryStorage(), SimpleEventIsolation()
    redis = get_redis(settings)
    builder = DefaultKeyBuilder(prefix=key(settings, "fsm"), with_bot_id=True)
    storage = SharedRedisStorage(
        redis, key_builder=builder, state_ttl=STATE_TTL, data_ttl=STATE_TTL
    )
    # A chat's lock outlives no update: it expires after twice the request timeout, and a
    # waiting update gives up after half of one (its webhook answer is then non-2xx, and
    # Telegram delivers it again).
    lock_kwargs = {
        "timeout": 2 * settings.request_timeout,
        "blocking_timeout": settings.request_timeout / 2,
    }
    isolation = RedisEventIsolation(redis, key_builder=builder, lock_kwargs=lock_kwargs)
    return storage, isolation

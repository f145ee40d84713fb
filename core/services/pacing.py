"""Pacing of outgoing messages, in two tools that together keep every channel limit.

`reserve` spaces events under a key by decision time: GCRA without burst (a token bucket of
depth one), one event per `interval`. It smooths a channel's flow, spaces the messages to
one recipient, and carries pauses (a 429's retry_after).

`acquire` / `release` hold a channel's hard limit, "at most N in any window of W seconds",
as the channel counts it: on arrival. A send takes one of N permits before it leaves and
gives it back W seconds after its answer came. Any message the channel admitted in the last
W seconds still holds its permit, so however much the requests are delayed in flight, the
channel never sees more than N in a window (decision-time spacing alone cannot promise that
once the jitter nears the spacing). The price is one round trip per permit cycle.

Two implementations behind one interface:
- `MemoryPacer` paces this process only. With several delivery workers each keeps its own
  schedule, so their sum can pass a limit (the channel answers 429, the workers pause).
- `RedisPacer` (when `REDIS_URL` is set) keeps schedules and permits in Redis with atomic
  scripts on Redis's clock, so every worker of the deployment shares each limit. A permit
  of a worker that died expires by itself after `hold` seconds.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Protocol

from core import redis as shared_redis
from core.settings import Settings


class Pacer(Protocol):
    async def reserve(self, key: str, interval: float, max_wait: float) -> tuple[bool, float]:
        """Take the next slot of `key` if it comes within `max_wait` seconds.

        Returns (taken, seconds until that slot). When not taken nothing changes and the
        seconds say how long until a slot is free.
        """
        ...

    async def pause(self, key: str, seconds: float) -> None:
        """No slot of `key` before `seconds` from now (a 429's retry_after)."""
        ...

    async def free_in(self, key: str) -> float:
        """Seconds until the next slot of `key` (0 when free now), taking nothing."""
        ...

    async def acquire(self, key: str, capacity: int, hold: float) -> tuple[str | None, float]:
        """A permit of `key`'s window (at most `capacity` live), or None and a wait hint.

        An unreleased permit lapses after `hold` seconds (its holder died).
        """
        ...

    async def release(self, key: str, permit: str, period: float) -> None:
        """The permit's message was answered: it stays counted `period` seconds more."""
        ...


class MemoryPacer:
    """Schedules and permits in this process's memory."""

    MAX_KEYS = 50_000

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._permits: dict[str, dict[str, float]] = {}
        self._ids = itertools.count()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    async def reserve(self, key: str, interval: float, max_wait: float) -> tuple[bool, float]:
        now = self.now()
        slot = max(self._next.get(key, 0.0), now)
        wait = slot - now
        if wait > max_wait:
            return False, wait
        self._next[key] = slot + interval
        if len(self._next) > self.MAX_KEYS:
            self._next = {key: at for key, at in self._next.items() if at > now}
        return True, wait

    async def pause(self, key: str, seconds: float) -> None:
        self._next[key] = max(self._next.get(key, 0.0), self.now() + seconds)

    async def free_in(self, key: str) -> float:
        return max(0.0, self._next.get(key, 0.0) - self.now())

    async def acquire(self, key: str, capacity: int, hold: float) -> tuple[str | None, float]:
        now = self.now()
        live = {p: end for p, end in self._permits.get(key, {}).items() if end > now}
        self._permits[key] = live
        if len(live) < capacity:
            permit = str(next(self._ids))
            live[permit] = now + hold
            return permit, 0.0
        return None, min(live.values()) - now

    async def release(self, key: str, permit: str, period: float) -> None:
        live = self._permits.get(key)
        if live is not None and permit in live:
            live[permit] = self.now() + period


# KEYS[1]: the key. ARGV: interval, max_wait, mode (reserve | pause | peek), pause seconds.
_SCHEDULE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local mode = ARGV[3]
if mode == 'pause' then
  local until_at = math.max(nxt, now + tonumber(ARGV[4]))
  redis.call('SET', KEYS[1], string.format('%.6f', until_at), 'PX',
    math.ceil((until_at - now) * 1000) + 1000)
  return {1, '0'}
end
local slot = math.max(nxt, now)
local wait = slot - now
if mode == 'peek' or wait > tonumber(ARGV[2]) then
  return {0, string.format('%.6f', wait)}
end
local after = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX',
  math.ceil((after - now) * 1000) + 1000)
return {1, string.format('%.6f', wait)}
"""

# KEYS[1]: a sorted set of permits scored by when they lapse. ARGV: mode, permit, capacity
# or period, hold.
_PERMITS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[1] == 'release' then
  if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  end
  return {1, '0'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  local hold = tonumber(ARGV[4])
  redis.call('ZADD', KEYS[1], now + hold, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.ceil(hold * 1000) + 1000)
  return {1, '0'}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, string.format('%.6f', tonumber(first[2]) - now)}
"""


class RedisPacer:
    """Schedules and permits in Redis, shared by every worker process of the deployment."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        redis = shared_redis.get_redis(settings)
        self._schedule = redis.register_script(_SCHEDULE)
        self._permits = redis.register_script(_PERMITS)

    def _key(self, *parts: str) -> str:
        return shared_redis.key(self._settings, "pace", *parts)

    async def _run(self, key: str, *args: str | float) -> tuple[bool, float]:
        taken, wait = await self._schedule(keys=[self._key(key)], args=list(args))
        return bool(int(taken)), float(wait)

    async def reserve(self, key: str, interval: float, max_wait: float) -> tuple[bool, float]:
        return await self._run(key, interval, max_wait, "reserve", 0)

    async def pause(self, key: str, seconds: float) -> None:
        await self._run(key, 0, 0, "pause", seconds)

    async def free_in(self, key: str) -> float:
        return (await self._run(key, 0, 0, "peek", 0))[1]

    async def acquire(self, key: str, capacity: int, hold: float) -> tuple[str | None, float]:
        permit = uuid.uuid4().hex
        taken, wait = await self._permits(
            keys=[self._key("permits", key)], args=["acquire", permit, capacity, hold]
        )
        return (permit if int(taken) else None), float(wait)

    async def release(self, key: str, permit: str, period: float) -> None:
        await self._permits(keys=[self._key("permits", key)], args=["release", permit, period])


def create_pacer(settings: Settings) -> Pacer:
    """Redis when `REDIS_URL` is set (shared by workers), else this process's memory."""
    if settings.redis_url:
        return RedisPacer(settings)
    return MemoryPacer()

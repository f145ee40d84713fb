"""Counters against abuse: request limits, login throttling, OTP and daily caps.

Every counter lives in one `limits` storage per process: in memory by default, in Redis when
`REDIS_URL` is set, so that every process counts against the same numbers. The counters fail
closed: when the store does not answer in time, the caller gets `ServiceUnavailable` (503),
never a silent pass.

    await throttle.hit(f"otp:{phone}", limit=5, window_seconds=3600)   # TooManyRequests
    left = await throttle.consume_daily(seller.id, "sms", plan.daily_sms)  # DailyCapReached
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from core import redis as shared_redis
from core.errors import DailyCapReached, ServiceUnavailable, TooManyRequests
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

T = TypeVar("T")
DAY = 24 * 3600
HOUR = 3600
# Kinds of daily caps; the names are part of the stored keys, so they stay stable.
DAILY_KINDS = frozenset({"sms", "whatsapp", "video"})


@dataclass(frozen=True, slots=True)
class Window:
    """Where a counter stands: its limit, what is left, and when the next slot frees."""

    limit: int
    remaining: int
    reset_at: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


class LimitStore:
    """A `limits` storage with the moving-window strategy, guarded by a timeout."""

    def __init__(self, storage: Storage, *, timeout: float) -> None:
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.timeout = timeout

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            log.warning("rate limit store failed error=%s", type(exc).__name__)
            raise ServiceUnavailable("the rate limit store is unavailable") from None

    async def acquire(self, item: RateLimitItem, key: str, cost: int = 1) -> bool:
        """Take `cost` slots under `key`; False (and nothing taken) when they are not there."""
        return await self._guard(self.limiter.hit(item, key, cost=cost))

    async def window(self, item: RateLimitItem, key: str) -> Window:
        stats = await self._guard(self.limiter.get_window_stats(item, key))
        return Window(item.amount, max(0, stats.remaining), stats.reset_time)

    async def clear(self, item: RateLimitItem, key: str) -> None:
        await self._guard(self.limiter.clear(item, key))

    async def ping(self) -> bool:
        try:
            return bool(await self._guard(self.storage.check()))
        except ServiceUnavailable:
            return False

    async def aclose(self) -> None:
        # Memory needs nothing; the Redis client is the process's, closed by its owner.
        if isinstance(self.storage, MemoryStorage):
            await self.storage.reset()


def create_rate_limit_storage(settings: Settings) -> LimitStore:
    """The counters' store: Redis when `REDIS_URL` is set (shared by processes), else memory.

    The Redis storage rides on the process's shared Redis client (`core.redis`), with its
    short timeouts and single retry, so a dead Redis answers 503 within seconds.
    """
    if not settings.redis_url:
        return LimitStore(MemoryStorage(wrap_exceptions=True), timeout=settings.rate_limit_timeout)
    return LimitStore(
        shared_redis.create_rate_limit_storage(settings), timeout=settings.rate_limit_timeout
    )


# One store per settings object: one per process in production; tests make new settings
# (and copies of them) per test, each with counters of its own.
_stores: OrderedDict[int, tuple[Settings, LimitStore]] = OrderedDict()
_MAX_STORES = 8


def shared_store(settings: Settings | None = None) -> LimitStore:
    """The process-wide store for these settings (the current settings by default)."""
    settings = settings or get_settings()
    entry = _stores.get(id(settings))
    if entry is None or entry[0] is not settings:
        entry = (settings, create_rate_limit_storage(settings))
        _stores[id(settings)] = entry
        while len(_stores) > _MAX_STORES:
            _stores.popitem(last=False)
    return entry[1]


async def close_shared() -> None:
    """Forget every store (at shutdown); memory counters are dropped with them."""
    entries = list(_stores.values())
    _stores.clear()
    for _, store in entries:
        await store.aclose()


def _item(limit: int, window_seconds: int, namespace: str) -> RateLimitItem:
    return RateLimitItemPerSecond(limit, window_seconds, namespace=namespace)


def digest(value: str) -> str:
    """A stable short digest, so that user input never becomes a raw key segment."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


# --- generic counters -----------------------------------------------------------------------


async def hit(key: str, limit: int, window_seconds: int, *, cost: int = 1) -> Window:
    """Count `cost` events under `key`; TooManyRequests once `limit` is spent in the window."""
    store = shared_store()
    item = _item(limit, window_seconds, "hit")
    if limit <= 0 or not await store.acquire(item, key, cost):
        window = await store.window(item, key)
        raise TooManyRequests("too many requests, try again later", retry_after=window.retry_after)
    return await store.window(item, key)


async def check(key: str, limit: int, window_seconds: int) -> Window:
    """Where `key` stands, without counting; TooManyRequests when nothing is left."""
    store = shared_store()
    window = await store.window(_item(limit, window_seconds, "hit"), key)
    if window.remaining <= 0:
        raise TooManyRequests("too many requests, try again later", retry_after=window.retry_after)
    return window


async def reset(key: str, limit: int, window_seconds: int) -> None:
    await shared_store().clear(_item(limit, window_seconds, "hit"), key)


# --- daily caps and OTP ---------------------------------------------------------------------


def _next_midnight(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


async def consume_daily(seller_id: int, kind: str, cap: int, amount: int = 1) -> int:
    """Take `amount` from today's (UTC) cap of `kind` for the seller; returns what is left.

    Raises DailyCapReached (429, Retry-After until midnight UTC) and takes nothing when the
    amount does not fit, so that a refused batch does not eat the rest of the day.
    """
    if kind not in DAILY_KINDS:
        raise ValueError(f"unknown daily cap kind: {kind}")
    now = datetime.now(UTC)
    retry_after = max(1, math.ceil((_next_midnight(now) - now).total_seconds()))
    if cap <= 0 or amount > cap:
        raise DailyCapReached(
            f"the daily {kind} cap of your plan is {max(cap, 0)}",
            retry_after=retry_after,
            kind=kind,
            cap=max(cap, 0),
        )
    store = shared_store()
    item = _item(cap, DAY, "daily")
    key = f"{kind}:{seller_id}:{now.date().isoformat()}"
    if not await store.acquire(item, key, amount):
        raise DailyCapReached(
            f"the daily {kind} cap of {cap} is used up",
            retry_after=retry_after,
            kind=kind,
            cap=cap,
        )
    return (await store.window(item, key)).remaining


async def daily_remaining(seller_id: int, kind: str, cap: int) -> int:
    if cap <= 0:
        return 0
    key = f"{kind}:{seller_id}:{datetime.now(UTC).date().isoformat()}"
    return (await shared_store().window(_item(cap, DAY, "daily"), key)).remaining


async def hit_otp(phone: str, limit: int | None = None) -> Window:
    """Count one OTP request to `phone`; TooManyRequests past the hourly cap."""
    per_hour = limit if limit is not None else get_settings().otp_per_phone_per_hour
    return await hit(f"otp:{digest(phone)}", per_hour, HOUR)


# --- login ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginKeys:
    account: str
    address_failures: str
    address_attempts: str

    @classmethod
    def of(cls, username: str, address: str) -> LoginKeys:
        where = digest(address)
        return cls(f"acct:{digest(username.strip().lower())}", f"fail:{where}", f"try:{where}")


def _login_items(settings: Settings) -> tuple[RateLimitItem, RateLimitItem]:
    failures = _item(settings.login_max_failures, settings.login_window_seconds, "login")
    attempts = _item(
        settings.login_max_attempts_per_address, settings.login_window_seconds, "login"
    )
    return failures, attempts


def _login_refused(window: Window) -> TooManyRequests:
    return TooManyRequests(
        "too many login attempts, try again later", retry_after=window.retry_after
    )


async def login_attempt(username: str, address: str) -> None:
    """Before any hash is computed: refuse (429) an account or address with too many failures.

    The account's slot is taken now (so parallel guesses cannot race past the limit) and given
    back by `login_succeeded`; the address keeps a count of failures and a looser cap on all
    attempts. A 429 is counted nowhere, so a locked account opens again one window after its
    tenth failure whatever an attacker keeps sending.
    """
    settings = get_settings()
    if not settings.login_throttle_enabled:
        return
    store = shared_store()
    failures, attempts = _login_items(settings)
    keys = LoginKeys.of(username, address)
    address_window = await store.window(failures, keys.address_failures)
    if address_window.remaining <= 0:
        raise _login_refused(address_window)
    if not await store.acquire(attempts, keys.address_attempts):
        raise _login_refused(await store.window(attempts, keys.address_attempts))
    if not await store.acquire(failures, keys.account):
        raise _login_refused(await store.window(failures, keys.account))


async def login_failed(username: str, address: str) -> None:
    settings = get_settings()
    if not settings.login_throttle_enabled:
        return
    failures, _ = _login_items(settings)
    await shared_store().acquire(failures, LoginKeys.of(username, address).address_failures)


async def login_succeeded(username: str, address: str) -> None:
    settings = get_settings()
    if not settings.login_throttle_enabled:
        return
    failures, _ = _login_items(settings)
    await shared_store().clear(failures, LoginKeys.of(username, address).account)

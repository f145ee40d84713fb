"""The background side: the scheduler and the job loops, in one place.

Domains register here at import time:
- `scheduled(job_id, trigger, **trigger_args)` decorates an async function run by the
  scheduler (ids are stable domain keys, times UTC);
- `background(name)` decorates a loop `async def loop(stop: asyncio.Event) -> None` that runs
  until `stop` is set (notification delivery, video rendering, price checks).

Scale-out: any number of workers may run the background loops (a loop takes its rows with
`core.db.claimable`, so two workers never take the same job), but exactly one runs the
scheduler: the holder of a Redis lock with expiry (`SchedulerLock`), renewed while held.
When the holder dies, its lock expires and another worker takes over within one expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core import metrics
from core.aio import checkpoint
from core.availability import is_outage
from core.redis import REDIS_ERRORS, Redis

log = logging.getLogger(__name__)

Loop = Callable[[asyncio.Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    job_id: str
    func: Callable[[], Awaitable[Any]]
    trigger: str
    trigger_args: dict[str, Any]


SCHEDULED: dict[str, ScheduledJob] = {}
BACKGROUND: dict[str, Loop] = {}


def scheduled(
    job_id: str, trigger: str, **trigger_args: Any
) -> Callable[[Callable[[], Awaitable[Any]]], Callable[[], Awaitable[Any]]]:
    def register(func: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        SCHEDULED[job_id] = ScheduledJob(job_id, func, trigger, trigger_args)
        return func

    return register


def background(name: str) -> Callable[[Loop], Loop]:
    def register(loop: Loop) -> Loop:
        BACKGROUND[name] = loop
        return loop

    return register


def load_domains() -> None:
    """Import every module that registers jobs, so the registries are complete."""
    import core.services.jobs  # noqa: F401


def create_scheduler() -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for job in SCHEDULED.values():
        scheduler.add_job(
            _run_job,
            job.trigger,
            args=[job.job_id],
            id=job.job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=60,
            **job.trigger_args,
        )
    return scheduler


async def _run_job(job_id: str) -> None:
    job = SCHEDULED[job_id]
    started = time.perf_counter()
    outcome = "ok"
    with structlog.contextvars.bound_contextvars(job_id=job_id):
        try:
            result = await job.func()
        except Exception as exc:
            outcome = "failed"
            if is_outage(exc):
                log.warning("scheduled job skipped, dependency down id=%s", job_id)
            else:
                log.exception("scheduled job failed id=%s", job_id)
        else:
            log.info("scheduled job done id=%s result=%s", job_id, result)
        finally:
            metrics.JOB_RUNS.labels(job_id, outcome).inc()
            metrics.JOB_LATENCY.labels(job_id).observe(time.perf_counter() - started)


# Take the lock if it is free, or renew it if it is ours: 1 when held afterwards.
_HOLD = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
if not holder then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class SchedulerLock:
    """A Redis lock with expiry that names its holder (`host:pid:random`)."""

    def __init__(self, redis: Redis, key: str, ttl: float) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def hold(self) -> bool:
        """Take or renew the lock; False when another worker holds it."""
        held = self.redis.eval(_HOLD, 1, self.key, self.identity, str(self.ttl_ms))
        return bool(await cast(Awaitable[int], held))

    async def release(self) -> None:
        await cast(Awaitable[int], self.redis.eval(_RELEASE, 1, self.key, self.identity))

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


class Leadership:
    """Keeps trying to hold `lock`, every third of its expiry; calls `on_gain` / `on_loss`.

    Any doubt ends leadership at once: a failed renewal or an unreachable Redis pauses the
    scheduler until the lock is held again, so two schedulers never run together (but for
    one interval at most when Redis restarts empty between two renewals).
    """

    def __init__(
        self, lock: SchedulerLock, on_gain: Callable[[], None], on_loss: Callable[[], None]
    ) -> None:
        self.lock = lock
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.leading = False

    @property
    def interval(self) -> float:
        return self.lock.ttl_ms / 3000

    async def step(self) -> None:
        try:
            held = await self.lock.hold()
        except REDIS_ERRORS:
            log.warning("scheduler lock: redis unavailable")
            held = False
        if held and not self.leading:
            self.leading = True
            metrics.SCHEDULER_LEADER.set(1)
            log.info("scheduler lock taken holder=%s", self.lock.identity)
            self.on_gain()
        elif not held and self.leading:
            self._lose()

    def _lose(self) -> None:
        self.leading = False
        metrics.SCHEDULER_LEADER.set(0)
        log.warning("scheduler paused, lock not held holder=%s", self.lock.identity)
        self.on_loss()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                checkpoint()
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            if self.leading:
                self._lose()
                with contextlib.suppress(*REDIS_ERRORS):
                    await self.lock.release()


class Worker:
    """Runs the scheduler (when `with_scheduler`) and every background loop.

    With a `lock`, the scheduler starts paused and runs only while this worker holds it.
    """

    def __init__(self, *, with_scheduler: bool = True, lock: SchedulerLock | None = None) -> None:
        self.with_scheduler = with_scheduler
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: AsyncIOScheduler | None = None
        self.leadership: Leadership | None = None
        self._lock = lock

    async def start(self) -> None:
        load_domains()
        if self.with_scheduler:
            scheduler = self._scheduler = create_scheduler()
            scheduler.start(paused=self._lock is not None)
            if self._lock is not None:
                self.leadership = Leadership(self._lock, scheduler.resume, scheduler.pause)
                self._tasks.append(
                    asyncio.create_task(self.leadership.run(self.stop_event), name="leadership")
                )
            else:
                metrics.SCHEDULER_LEADER.set(1)
        for name, loop in BACKGROUND.items():
            self._tasks.append(asyncio.create_task(self._guard(name, loop), name=name))
        log.info("worker started scheduler=%s loops=%s", self.with_scheduler, ",".join(BACKGROUND))

    async def _guard(self, name: str, loop: Loop) -> None:
        while not self.stop_event.is_set():
            checkpoint()
            try:
                await loop(self.stop_event)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.LOOP_CRASHES.labels(name).inc()
                if is_outage(exc):
                    log.warning("background loop paused, dependency down name=%s", name)
                else:
                    log.exception("background loop crashed name=%s, restarting", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), 5)

    async def stop(self) -> None:
        self.stop_event.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        log.info("worker stopped")

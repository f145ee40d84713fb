"""The background side: the scheduler and the job loops, in one place.

Domains register here at import time:
- `scheduled(job_id, trigger, **trigger_args)` decorates an async function run by the
  scheduler (ids are stable domain keys, times UTC);
- `background(name)` decorates a loop `async def loop(stop: asyncio.Event) -> None` that runs
  until `stop` is set (notification delivery, video rendering, price checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

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
    try:
        result = await job.func()
    except Exception:
        log.exception("scheduled job failed id=%s", job_id)
        return
    log.info("scheduled job done id=%s result=%s", job_id, result)


class Worker:
    """Runs the scheduler (when `with_scheduler`) and every background loop."""

    def __init__(self, *, with_scheduler: bool = True) -> None:
        self.with_scheduler = with_scheduler
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        load_domains()
        if self.with_scheduler:
            self._scheduler = create_scheduler()
            self._scheduler.start()
        for name, loop in BACKGROUND.items():
            self._tasks.append(asyncio.create_task(self._guard(name, loop), name=name))
        log.info("worker started scheduler=%s loops=%s", self.with_scheduler, ",".join(BACKGROUND))

    async def _guard(self, name: str, loop: Loop) -> None:
        while not self.stop_event.is_set():
            try:
                await loop(self.stop_event)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop crashed name=%s, restarting", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), 5)

    async def stop(self) -> None:
        self.stop_event.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        log.info("worker stopped")

"""What every update passes through: its id on every log line, metrics, and outages.

An outage (PostgreSQL or Redis down) is not answered with "something went wrong": it
propagates out of `Dispatcher.feed_update`, so that the webhook answers Telegram with a
non-2xx status and Telegram delivers the update again once the dependency is back.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import ErrorEvent, TelegramObject, Update
from aiogram.types.update import UpdateTypeLookupError

from core import metrics
from core.availability import is_outage

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def update_kind(update: Update) -> str:
    """`message`, `callback_query`, ... (a bounded metrics label)."""
    try:
        return update.event_type
    except UpdateTypeLookupError:
        return "unknown"


# The key under which a caller of `feed_update` may pass an `UpdateProgress`.
PROGRESS = "update_progress"


@dataclass(slots=True)
class UpdateProgress:
    """Set when the handlers of an update have finished: what fails after that (releasing
    the chat's lock, say) must not make the update run again."""

    handled: bool = False


class UpdateObserver(BaseMiddleware):
    """Binds `update_id` for logging, counts and times each update by type and outcome."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        kind = update_kind(event)
        started = time.perf_counter()
        outcome = "failed"
        try:
            with structlog.contextvars.bound_contextvars(update_id=event.update_id):
                result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            progress = data.get(PROGRESS)
            if isinstance(progress, UpdateProgress):
                progress.handled = True
            return result
        finally:
            metrics.BOT_UPDATES.labels(kind, outcome).inc()
            metrics.BOT_LATENCY.observe(time.perf_counter() - started)


async def _reraise_outage(event: ErrorEvent) -> None:
    metrics.OUTAGES.labels("bot").inc()
    raise event.exception


def observe(dispatcher: Dispatcher) -> None:
    """Install the observer, and let outages escape the feature error handlers."""
    dispatcher.update.outer_middleware(UpdateObserver())
    # The dispatcher's own error handlers run before those of its routers.
    dispatcher.errors.register(_reraise_outage, lambda event: is_outage(event.exception))

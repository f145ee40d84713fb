"""Prometheus metrics of this process, served at `/metrics` (web) or the worker's probe port.

Each process keeps its own counters; Prometheus scrapes every web process and the worker
as separate targets and sums them. Label values are bounded: routes are templates
(`/api/orders/{id}`), never raw paths.

Queue depths are read when scraped: a domain registers an async counter with
`@queue_depth("notifications")`, usually a `COUNT` of pending rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from core import events

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "scx_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "scx_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
BOT_UPDATES = Counter(
    "scx_bot_updates_total",
    "Telegram updates by type and outcome (handled, unhandled, failed, duplicate, busy)",
    ["type", "outcome"],
)
BOT_LATENCY = Histogram(
    "scx_bot_update_duration_seconds",
    "Time to process a Telegram update",
    buckets=_LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge("scx_queue_depth", "Items waiting in a background queue", ["queue"])
PAYMENTS = Counter("scx_payments_total", "Payment state changes", ["provider", "outcome"])
JOB_RUNS = Counter("scx_job_runs_total", "Scheduler job runs by outcome", ["job", "outcome"])
JOB_LATENCY = Histogram(
    "scx_job_duration_seconds", "Scheduler job run time", ["job"], buckets=_LATENCY_BUCKETS
)
LOOP_CRASHES = Counter(
    "scx_background_loop_crashes_total", "Background loops restarted after a crash", ["loop"]
)
SCHEDULER_LEADER = Gauge("scx_scheduler_leader", "1 while this process runs the scheduler")
OUTAGES = Counter(
    "scx_outage_errors_total",
    "Requests or updates refused because a dependency was down",
    ["where"],
)

QueueCounter = Callable[[], Awaitable[int]]
QUEUES: dict[str, QueueCounter] = {}
QUEUE_READ_TIMEOUT = 2.0


def queue_depth(name: str) -> Callable[[QueueCounter], QueueCounter]:
    """Register an async function that counts the items waiting in queue `name`."""

    def register(func: QueueCounter) -> QueueCounter:
        QUEUES[name] = func
        return func

    return register


async def _read_queue(name: str, count: QueueCounter) -> None:
    try:
        async with asyncio.timeout(QUEUE_READ_TIMEOUT):
            QUEUE_DEPTH.labels(queue=name).set(await count())
    except Exception:
        # A scrape during an outage keeps the last value rather than failing.
        log.warning("queue depth unavailable queue=%s", name, exc_info=True)


async def render() -> tuple[bytes, str]:
    """The text exposition of every metric, queue depths read just now."""
    await asyncio.gather(*(_read_queue(name, count) for name, count in QUEUES.items()))
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _payment_counter(outcome: str) -> events.Handler:
    async def count(**payload: Any) -> None:
        # PAYMENT_* events carry the Payment row, whose provider is a bounded enum.
        provider = getattr(payload.get("payment"), "provider", None)
        name = str(getattr(provider, "value", provider) or "unknown")
        PAYMENTS.labels(provider=name, outcome=outcome).inc()

    return count


events.subscribe(events.PAYMENT_PAID, _payment_counter("paid"))
events.subscribe(events.PAYMENT_CANCELLED, _payment_counter("cancelled"))

"""The delivery worker: takes outbox rows and sends them at the pace each channel allows.

One `ChannelRunner` per configured channel claims due rows (see `core.services.outbox` for
the claim, lease and crash rules), keeps them in a small in-memory schedule and hands each
to its channel when (`core.services.pacing`):
- the channel's next slot has come (messages spaced at the channel's rate) and one of its
  window permits is free (never more than N in any W seconds as the channel counts them);
- the recipient's next slot has come, counted from the answer to their previous message,
  and no other message to them is in flight (so they also arrive in order).
Answers decide the row's fate:

| answer                          | what happens                                          |
|---------------------------------|-------------------------------------------------------|
| accepted                        | `sent` (Eskiz later reports `delivered` or `failed`)  |
| 429 / retry_after / 130429      | the channel pauses for the time asked, row requeued   |
| WhatsApp 131056 (one recipient) | that recipient pauses, row requeued                   |
| WhatsApp 131047 (24 h window)   | the row switches to its approved template, requeued   |
| bad token, no balance           | the channel pauses a minute or more, row requeued     |
| 5xx, timeouts, connection       | retried with exponential backoff, failed at the limit |
| blocked bot, unknown chat/number| `failed` at once with the channel's reason            |

Delivery guarantees, per channel (Telegram, Eskiz SMS, WhatsApp alike, since none of them
takes an idempotency key or can be asked afterwards what it received):
- never sent: rows a dead worker claimed but did not hand over go back to the queue
  (at-least-once, and nothing was sent, so exactly once);
- a worker killed while the channel had the message: `unconfirmed`, never resent on its own
  (at-most-once: a duplicate is worse than a gap the seller can see);
- a timeout while alive: retried (at-least-once: the issue asks for it).
A graceful stop (SIGTERM, task cancellation) finishes the sends in flight and releases the
rest, so a restart neither loses nor repeats anything.

Pacing is per process with `MemoryPacer`; with `REDIS_URL` every worker shares the channel
and recipient schedules and the window permits. "One in flight per recipient" and the order
of one recipient's messages hold per worker process.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from tortoise.expressions import Q

from core.aio import checkpoint
from core.integrations.delivery import (
    AmbiguousFailure,
    ChannelUnavailable,
    DeliveryError,
    PermanentFailure,
    Throttled,
    WindowClosed,
)
from core.integrations.eskiz import EskizClient
from core.integrations.telegram import TelegramClient
from core.integrations.whatsapp import WhatsAppClient
from core.models import Channel, DeliveryState, Notification, NotificationBatch
from core.services import audience, broadcasts, channels, notification_events, outbox
from core.services.pacing import Pacer, create_pacer
from core.settings import Settings, get_settings
from core.worker import background

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

GROUP_INTERVAL = 60 / 20  # Telegram: 20 messages a minute to one group
HOLD = 5.0  # longest a claimed row waits in memory for its recipient or its channel
CONCURRENCY = 64  # sends in flight per channel
ARMED = 8  # delivery tasks that may wait for a window permit at once
PERMIT_POLL = 0.05  # how often to look for a permit another worker gave back
BEGIN_DELAY = 0.002  # attempts recorded together: the latency it adds before a send
SENT_DELAY = 0.01  # answers recorded together: the crash window it adds (see outbox)
STATUS_BATCH = 50


@dataclass(frozen=True, slots=True)
class Pace:
    """A channel's limits: `capacity` messages in any `period` seconds, and the spacing of
    messages to one recipient (0: none)."""

    capacity: int
    period: float
    recipient_interval: float
    group_interval: float = 0.0

    @property
    def interval(self) -> float:
        return self.period / self.capacity

    @property
    def rate(self) -> float:
        return self.capacity / self.period


def paces(settings: Settings) -> dict[Channel, Pace]:
    scale = settings.delivery_time_scale
    sms_capacity = max(1, math.ceil(settings.sms_rate_per_second))
    return {
        Channel.TELEGRAM: Pace(
            max(1, int(settings.telegram_rate_per_second)),
            1 / scale,
            settings.telegram_chat_interval / scale,
            GROUP_INTERVAL / scale,
        ),
        Channel.SMS: Pace(sms_capacity, sms_capacity / settings.sms_rate_per_second / scale, 0.0),
        Channel.WHATSAPP: Pace(
            max(1, int(settings.whatsapp_rate_per_second)),
            1 / scale,
            settings.whatsapp_recipient_interval / scale,
        ),
    }


class Sender(Protocol):
    channel: Channel

    async def send(self, row: Notification) -> str | None: ...

    async def aclose(self) -> None: ...


class TelegramSender:
    channel = Channel.TELEGRAM

    def __init__(self, client: TelegramClient) -> None:
        self.client = client

    async def send(self, row: Notification) -> str | None:
        payload = row.payload or {}
        return await self.client.send_message(
            row.recipient,
            row.text,
            parse_mode=payload.get("parse_mode"),
            reply_markup=payload.get("reply_markup"),
        )

    async def aclose(self) -> None:
        await self.client.aclose()


class SmsSender:
    channel = Channel.SMS

    def __init__(self, client: EskizClient) -> None:
        self.client = client

    async def send(self, row: Notification) -> str | None:
        return await self.client.send(row.recipient, row.text)

    async def aclose(self) -> None:
        await self.client.aclose()


class WhatsAppSender:
    channel = Channel.WHATSAPP

    def __init__(self, client: WhatsAppClient) -> None:
        self.client = client

    async def send(self, row: Notification) -> str | None:
        payload = row.payload or {}
        if payload.get("mode") == "text":
            return await self.client.send_text(row.recipient, row.text)
        template = payload.get("template") or {}
        return await self.client.send_template(
            row.recipient,
            str(template.get("name") or row.type),
            str(template.get("language") or row.language),
            [str(value) for value in template.get("params") or []],
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def _maybe_sent(error: DeliveryError) -> bool:
    """Whether the channel may have taken the message despite the error."""
    return isinstance(error, AmbiguousFailure)


def backoff(failures: int, settings: Settings) -> float:
    """Seconds before the next try after `failures` temporary failures, with jitter."""
    delay = min(
        settings.notification_retry_base * 2 ** max(0, failures - 1),
        settings.notification_retry_max,
    )
    return delay * random.uniform(0.8, 1.2)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, or less when `stop` is set."""
    await _wait(stop, seconds)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`. `asyncio.timeout`, not `wait_for`: on Python 3.11
    `wait_for` can swallow a cancellation that lands as the event fires."""
    if seconds <= 0 or event.is_set():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class Coalescer(Generic[T, R]):
    """Runs `flush` once for every item submitted within `delay` seconds of the first.

    The outbox writes around each send go through one: at a few hundred messages a second
    that is one statement (and one database round trip) for several messages.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[R]], delay: float) -> None:
        self._flush = flush
        self._delay = delay
        self._items: list[T] = []
        self._result: asyncio.Future[R] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        self._items.append(item)
        if self._result is None:
            self._result = loop.create_future()
            self._timer = loop.call_later(self._delay, self._start)
        return await asyncio.shield(self._result)

    def _start(self) -> None:
        items, result = self._items, self._result
        self._items, self._result, self._timer = [], None, None
        if result is None:
            return
        task = asyncio.create_task(self._run(items, result))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, items: list[T], result: asyncio.Future[R]) -> None:
        try:
            outcome = await self._flush(items)
        except Exception as exc:
            if not result.done():
                result.set_exception(exc)
        else:
            if not result.done():
                result.set_result(outcome)

    async def drain(self) -> None:
        """Flush what waits now and wait for every flush under way."""
        if self._timer is not None:
            self._timer.cancel()
            self._start()
        if self._running:
            await asyncio.wait(set(self._running))


class ChannelRunner:
    """Claims, paces and sends one channel's rows.

    Three kinds of tasks: the feeder claims rows ahead (about half a second of sends), the
    dispatcher releases them one by one at the channel's pace, and one task per message
    records the attempt, takes a window permit, sends and records the answer.
    """

    def __init__(
        self,
        sender: Sender,
        pacer: Pacer,
        settings: Settings,
        worker: str,
        *,
        on_blocked: Callable[[Notification], Awaitable[None]] | None = None,
    ) -> None:
        self.sender = sender
        self.channel = sender.channel
        self.pacer = pacer
        self.settings = settings
        self.worker = worker
        self.pace = paces(settings)[self.channel]
        self.on_blocked = on_blocked
        self.capacity = max(10, min(500, int(self.pace.rate / 2)))
        self.stats: Counter[str] = Counter()
        # Due rows, one per recipient: the head of its lane. The rest wait in the lane, so
        # messages to one recipient leave in the order they were claimed.
        self._heap: list[tuple[float, int, Notification]] = []
        self._lanes: dict[str, deque[Notification]] = {}
        self._claimed: dict[int, Notification] = {}
        self._working: set[int] = set()  # handed to a delivery task, not yet settled
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._armed = asyncio.Semaphore(ARMED)
        self._released = asyncio.Event()  # a window permit came back
        self._fed = asyncio.Event()  # the feeder added rows
        self._hungry = asyncio.Event()  # the dispatcher wants more rows
        self._halt = asyncio.Event()  # stop: set by `stop` or by a cancellation
        self._order = itertools.count()
        self._resume_at = 0.0  # no claims before (the channel is paused)
        # A 429 seen by this process: sends already past the dispatcher wait until then.
        self._paused_until = 0.0
        self._begins: Coalescer[Notification, set[int]] = Coalescer(self._begin_many, BEGIN_DELAY)
        self._answers: Coalescer[tuple[Notification, str | None], None] = Coalescer(
            self._sent_many, SENT_DELAY
        )

    # --- keys ---------------------------------------------------------------------------

    @property
    def channel_key(self) -> str:
        return self.channel.value

    def recipient_key(self, row: Notification) -> str:
        return f"{self.channel.value}:{row.recipient}"

    def recipient_interval(self, row: Notification) -> float:
        interval = self.pace.recipient_interval
        if self.channel is Channel.TELEGRAM and row.recipient.startswith("-"):
            interval = max(interval, self.pace.group_interval)
        return interval

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def held(self) -> list[int]:
        """Ids of the rows this runner holds: the leases to renew."""
        return [*self._claimed, *self._working]

    # --- the loops ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("delivery runner started channel=%s rate=%.1f", self.channel, self.pace.rate)
        feeder = asyncio.create_task(self._feed(), name=f"claim-{self.channel}")
        try:
            while not stop.is_set():
                checkpoint()
                if not self._heap:
                    self._hungry.set()
                    self._fed.clear()
                    await _wait(self._fed, 0.05)
                    continue
                try:
                    await self._dispatch_next(stop)
                except Exception:
                    # The pacer's store (Redis) or the database hiccuped: wait, keep the rows.
                    log.warning("delivery dispatch failed channel=%s", self.channel, exc_info=True)
                    await _sleep(stop, 1.0)
        finally:
            self._halt.set()
            self._hungry.set()
            await asyncio.gather(feeder, return_exceptions=True)
            await self._shutdown()

    async def _feed(self) -> None:
        """Keep about `capacity` rows claimed ahead of the dispatcher."""
        poll = self.settings.notification_poll_interval
        while not self._halt.is_set():
            checkpoint()
            wanted = self.capacity - len(self._claimed)
            pause = self._resume_at - self._now()
            if pause > 0 or wanted < self.capacity // 2:
                self._hungry.clear()
                await _wait(self._hungry, max(pause, 0.0) or 0.05)
                continue
            try:
                rows = await outbox.claim(
                    self.channel, self.worker, wanted, self.settings.notification_lease_seconds
                )
            except Exception:
                log.warning("claiming rows failed channel=%s", self.channel, exc_info=True)
                rows = []
            self._take(rows)
            if len(rows) < wanted:
                await _wait(self._halt, poll)

    def _take(self, rows: list[Notification]) -> None:
        for row in rows:
            self._claimed[row.id] = row
            lane = self._lanes.get(self.recipient_key(row))
            if lane is None:
                self._lanes[self.recipient_key(row)] = deque()
                self._push(row, 0.0)
            else:
                lane.append(row)
        if rows:
            self._fed.set()

    async def _dispatch_next(self, stop: asyncio.Event) -> None:
        ready, _, row = self._heap[0]
        wait = ready - self._now()
        if wait > 0:
            self._fed.clear()
            await _wait(self._fed, min(wait, 0.05))
            return
        heapq.heappop(self._heap)
        interval = self.recipient_interval(row)
        if interval > 0 and (busy := await self.pacer.free_in(self.recipient_key(row))) > 0:
            await self._defer(row, busy)
            return
        taken, wait = await self.pacer.reserve(self.channel_key, self.pace.interval, HOLD)
        if not taken:
            await self._pause_all(row, wait)
            return
        await _sleep(stop, wait)
        if stop.is_set():
            self._push(row, 0.0)
            return
        if interval > 0:
            taken, busy = await self.pacer.reserve(self.recipient_key(row), interval, 0.0)
            if not taken:
                await self._defer(row, busy)
                return
        await self._slots.acquire()
        await self._armed.acquire()
        task = asyncio.create_task(self._deliver(row, stop), name=f"deliver-{row.id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        if len(self._claimed) < self.capacity // 2:
            self._hungry.set()

    def _push(self, row: Notification, delay: float) -> None:
        heapq.heappush(self._heap, (self._now() + delay, next(self._order), row))

    def _advance(self, row: Notification) -> None:
        """`row` was answered: the next message to that recipient becomes due."""
        key = self.recipient_key(row)
        lane = self._lanes.get(key)
        if lane:
            self._push(lane.popleft(), 0.0)
        else:
            self._lanes.pop(key, None)

    async def _defer(self, row: Notification, delay: float) -> None:
        """Hold a row for its recipient; past HOLD its lane goes back to the table instead."""
        if delay <= HOLD:
            self._push(row, delay)
            return
        rows = [row, *self._lanes.pop(self.recipient_key(row), ())]
        for held in rows:
            self._claimed.pop(held.id, None)
        await outbox.release(rows, self.worker, delay)

    async def _pause_all(self, row: Notification, wait: float) -> None:
        """The channel is paused for long: give every held row back until then."""
        rows = [row, *self._claimed.values()]
        self._heap.clear()
        self._lanes.clear()
        self._claimed.clear()
        self._resume_at = self._now() + wait
        await outbox.release(rows, self.worker, wait)
        log.info(
            "channel paused channel=%s seconds=%.1f released=%s", self.channel, wait, len(rows)
        )

    async def _permit(self, stop: asyncio.Event) -> str | None:
        """One of the channel's window permits; None when stopping."""
        hold = self.settings.channel_timeout + self.pace.period + 5
        while not stop.is_set() and not self._halt.is_set():
            checkpoint()
            permit, wait = await self.pacer.acquire(self.channel_key, self.pace.capacity, hold)
            if permit is not None:
                return permit
            self._released.clear()
            await _wait(self._released, min(max(wait, 0.001), PERMIT_POLL))
        return None

    # --- one message --------------------------------------------------------------------

    async def _deliver(self, row: Notification, stop: asyncio.Event) -> None:
        """Take a window permit, record the attempt, send, give the permit back, record the
        answer.

        The attempt is recorded only once the message can leave at once (its permit taken and
        the channel not paused meanwhile): a worker killed between the record and the request
        leaves a gap of milliseconds, so the rows it leaves `unconfirmed` are, all but never,
        the ones the channel really had. The permit held during that write costs the window a
        few milliseconds per message.
        """
        self._claimed.pop(row.id, None)
        self._working.add(row.id)
        permit: str | None = None
        armed = True
        attempted = False
        try:
            permit = await self._permit(stop)
            self._armed.release()
            armed = False
            if permit is None:
                await outbox.release([row], self.worker)  # never recorded: back as it was
                return
            paused = self._paused_until - self._now()
            if paused > 0:
                # A 429 came back while this one waited: it waits what the channel asked.
                await outbox.release([row], self.worker, paused)
                return
            if row.id not in await self._begins.submit(row):
                self.stats["lost_lease"] += 1
                return
            attempted = True
            error: DeliveryError | None = None
            provider_id = None
            try:
                provider_id = await self.sender.send(row)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:
                log.exception("channel client crashed channel=%s row=%s", self.channel, row.id)
                error = AmbiguousFailure(f"{type(exc).__name__}")
            answered, permit = permit, None
            await self._answered(row, answered, delivered=error is None or _maybe_sent(error))
            if error is not None:
                await self._failed(row, error)
                return
            self.stats["sent"] += 1
            await self._answers.submit((row, provider_id))
        except Exception:
            # The outbox write failed: the lease runs out and recovery settles the row.
            log.exception("recording a delivery failed row=%s", row.id)
        finally:
            if armed:
                self._armed.release()
            if permit is not None:
                await self._answered(row, permit, delivered=attempted)
            self._slots.release()
            self._working.discard(row.id)
            # One message in flight per recipient: the next one is due only now.
            self._advance(row)

    async def _answered(self, row: Notification, permit: str, *, delivered: bool) -> None:
        """The channel answered: its window counts this request `period` more seconds, and
        when the message may have gone, the recipient's next one waits its interval from
        now (not from the decision, so delays in flight cannot bunch two together)."""
        try:
            await self.pacer.release(self.channel_key, permit, self.pace.period)
            interval = self.recipient_interval(row)
            if delivered and interval > 0:
                await self.pacer.pause(self.recipient_key(row), interval)
        except Exception:
            log.warning("pacer release failed channel=%s", self.channel, exc_info=True)
        self._released.set()

    async def _begin_many(self, rows: list[Notification]) -> set[int]:
        return await outbox.begin_attempts(rows, self.worker)

    async def _sent_many(self, answers: list[tuple[Notification, str | None]]) -> None:
        await outbox.mark_sent_many(answers, self.worker)

    async def _failed(self, row: Notification, exc: DeliveryError) -> None:
        if isinstance(exc, Throttled):
            self.stats["throttled"] += 1
            key = self.channel_key if exc.scope == "channel" else self.recipient_key(row)
            await self.pacer.pause(key, exc.retry_after)
            if exc.scope == "channel":
                self._paused_until = max(self._paused_until, self._now() + exc.retry_after)
            log.warning(
                "throttled channel=%s scope=%s retry_after=%s",
                self.channel,
                exc.scope,
                exc.retry_after,
            )
            await outbox.retry_later(row, self.worker, exc.retry_after, exc.reason, failed=False)
        elif isinstance(exc, WindowClosed) and (row.payload or {}).get("mode") == "text":
            self.stats["window_closed"] += 1
            payload = {**row.payload, "mode": "template"}
            await outbox.retry_later(
                row, self.worker, 0, exc.reason, failed=False, payload=payload
            )
        elif isinstance(exc, ChannelUnavailable):
            self.stats["unavailable"] += 1
            await self.pacer.pause(self.channel_key, exc.retry_after)
            self._paused_until = max(self._paused_until, self._now() + exc.retry_after)
            await outbox.retry_later(row, self.worker, exc.retry_after, exc.reason, failed=False)
        elif isinstance(exc, PermanentFailure | WindowClosed):
            self.stats["failed"] += 1
            await outbox.fail(row, self.worker, exc.reason)
            if isinstance(exc, PermanentFailure) and exc.blocked and self.on_blocked:
                await self.on_blocked(row)
        else:
            await self._temporary(row, exc)

    async def _temporary(self, row: Notification, exc: DeliveryError) -> None:
        self.stats["errors"] += 1
        failures = row.failures + 1
        if failures >= self.settings.notification_max_attempts:
            self.stats["failed"] += 1
            await outbox.fail(row, self.worker, f"{exc.reason} (gave up after {failures} tries)")
            return
        delay = backoff(failures, self.settings)
        await outbox.retry_later(row, self.worker, delay, exc.reason, failed=True)

    # --- stopping -----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Finish the sends in flight, give back the rows never handed over."""
        held = list(self._claimed.values())
        self._heap.clear()
        self._lanes.clear()
        self._claimed.clear()
        with contextlib.suppress(Exception):
            await asyncio.shield(outbox.release(held, self.worker))
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self.settings.channel_timeout + 5)
        with contextlib.suppress(Exception):
            await self._begins.drain()
            await self._answers.drain()
        log.info("delivery runner stopped channel=%s released=%s", self.channel, len(held))


def build_senders(settings: Settings) -> list[Sender]:
    """A sender for every channel the platform has credentials for."""
    senders: list[Sender] = []
    if channels.configured(Channel.TELEGRAM, settings):
        senders.append(TelegramSender(TelegramClient(settings)))
    if channels.configured(Channel.SMS, settings):
        senders.append(SmsSender(EskizClient(settings)))
    if channels.configured(Channel.WHATSAPP, settings):
        senders.append(WhatsAppSender(WhatsAppClient(settings)))
    return senders


class DeliveryWorker:
    """Every channel runner of one process, and the upkeep around them."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        senders: list[Sender] | None = None,
        pacer: Pacer | None = None,
        worker: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.worker = worker or outbox.worker_id()
        self.pacer = pacer or create_pacer(self.settings)
        self.senders = senders if senders is not None else build_senders(self.settings)
        self.runners = [
            ChannelRunner(s, self.pacer, self.settings, self.worker, on_blocked=_unlink_blocked)
            for s in self.senders
        ]
        self._telegram = next(
            (s.client for s in self.senders if isinstance(s, TelegramSender)), None
        )
        self._eskiz = next((s.client for s in self.senders if isinstance(s, SmsSender)), None)

    @property
    def stats(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for runner in self.runners:
            total.update(runner.stats)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "notification delivery started worker=%s channels=%s",
            self.worker,
            ",".join(r.channel.value for r in self.runners) or "none",
        )
        tasks = [
            asyncio.create_task(r.run(stop), name=f"deliver-{r.channel}") for r in self.runners
        ]
        tasks.append(asyncio.create_task(self._upkeep(stop), name="deliver-upkeep"))
        if self._telegram is not None:
            tasks.append(asyncio.create_task(self._progress(stop), name="deliver-progress"))
        if self._eskiz is not None:
            tasks.append(asyncio.create_task(self._sms_status(stop), name="deliver-sms-status"))
        try:
            await asyncio.gather(*tasks)
        finally:
            # A cancelled gather has cancelled them all; after a crash, stop the others. Never
            # twice: a second cancel would cut a runner's graceful shutdown short.
            for task in tasks:
                if not task.done() and not task.cancelling():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sender in self.senders:
                with contextlib.suppress(Exception):
                    await sender.aclose()

    async def _upkeep(self, stop: asyncio.Event) -> None:
        """Renew this worker's leases, settle the leases of workers that died."""
        lease = self.settings.notification_lease_seconds
        while not stop.is_set():
            checkpoint()
            try:
                held = [row_id for runner in self.runners for row_id in runner.held()]
                await outbox.renew(self.worker, lease, held)
                requeued, unconfirmed = await outbox.recover_expired()
                if requeued or unconfirmed:
                    log.warning(
                        "expired leases settled requeued=%s unconfirmed=%s", requeued, unconfirmed
                    )
            except Exception:
                log.warning("outbox upkeep failed", exc_info=True)
            await _sleep(stop, lease / 3)

    async def _progress(self, stop: asyncio.Event) -> None:
        """Edit each batch's progress message in the seller's chat until the batch is done."""
        while not stop.is_set():
            checkpoint()
            try:
                for batch in await broadcasts.open_progress_batches():
                    await self._report(batch)
            except Exception:
                log.warning("batch progress update failed", exc_info=True)
            await _sleep(stop, 1.0)

    async def _report(self, batch: NotificationBatch) -> None:
        assert self._telegram is not None
        state = broadcasts.summary(batch, await broadcasts.counts(batch.id))
        text = broadcasts.progress_text(state, batch.language)
        if text != batch.progress_text:
            await self._slot(Channel.TELEGRAM)
            try:
                await self._telegram.edit_message_text(
                    int(batch.progress_chat_id or 0),
                    int(batch.progress_message_id or 0),
                    text,
                    parse_mode="HTML",
                )
            except PermanentFailure:
                log.info("progress message gone batch=%s", batch.id)
                await broadcasts.finish(batch, text, True)
                return
            except DeliveryError as exc:
                log.warning("progress edit failed batch=%s reason=%s", batch.id, exc.reason)
                return
        await broadcasts.finish(batch, text, state.done)

    async def _sms_status(self, stop: asyncio.Event) -> None:
        """Ask Eskiz what became of sent SMS until each is delivered or failed (two days)."""
        interval = self.settings.eskiz_status_interval
        while not stop.is_set():
            checkpoint()
            await _sleep(stop, interval)
            try:
                await self._check_sms(interval)
            except Exception:
                log.warning("sms status check failed", exc_info=True)

    async def _check_sms(self, interval: float) -> None:
        assert self._eskiz is not None
        now = datetime.now(UTC)
        due = Q(checked_at__isnull=True) | Q(checked_at__lt=now - timedelta(seconds=interval))
        rows = (
            await Notification.filter(
                due,
                channel=Channel.SMS,
                state=DeliveryState.SENT,
                provider_message_id__isnull=False,
                sent_at__gte=now - timedelta(days=2),
            )
            .order_by("id")
            .limit(STATUS_BATCH)
        )
        for row in rows:
            await self._slot(Channel.SMS)
            try:
                status = await self._eskiz.status(str(row.provider_message_id))
            except DeliveryError as exc:
                log.info("sms status unavailable row=%s reason=%s", row.id, exc.reason)
                continue
            await _record_sms_status(row, status.raw, status.delivered, status.failed)

    async def _slot(self, channel: Channel) -> None:
        """Wait for a slot of the channel's rate (status checks and edits share it)."""
        rate = paces(self.settings)[channel].rate
        taken, wait = await self.pacer.reserve(channel.value, 1 / rate, 60.0)
        await asyncio.sleep(wait if taken else 1.0)


async def _record_sms_status(row: Notification, raw: str, delivered: bool, failed: bool) -> None:
    now = datetime.now(UTC)
    sent = Notification.filter(id=row.id, state=DeliveryState.SENT)
    if delivered:
        await sent.update(state=DeliveryState.DELIVERED, delivered_at=now, checked_at=now)
    elif failed:
        await sent.update(state=DeliveryState.FAILED, last_error=f"eskiz: {raw}", checked_at=now)
    else:
        await sent.update(checked_at=now)


async def _unlink_blocked(row: Notification) -> None:
    """A customer who blocked the bot is reached by SMS or WhatsApp from now on."""
    if row.channel is Channel.TELEGRAM and row.customer_id is not None:
        with contextlib.suppress(ValueError):
            await audience.unlink_chat(int(row.recipient))


@background("notifications")
async def run_delivery(stop: asyncio.Event) -> None:
    """The outbox delivery loop of this worker process."""
    notification_events.subscribe()  # order and payment events raised by this process too
    await DeliveryWorker().run(stop)

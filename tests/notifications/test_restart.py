"""Stopping and killing workers mid-batch: every message accounted for, none sent twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.models import Channel, DeliveryState, MessageType, Notification
from core.schemas_notifications import WhatsAppBulkIn
from core.services import broadcasts, outbox
from core.services.delivery import CONCURRENCY, DeliveryWorker
from core.services.outbox import Outgoing
from core.settings import Settings, use_settings
from tests.fakes.eskiz import FakeEskizServer
from tests.fakes.telegram import FakeTelegramServer
from tests.fakes.whatsapp import FakeWhatsAppServer
from tests.notifications.conftest import BOT_TOKEN, channel_settings_for, drain, make_seller

S = DeliveryState
SCALE = 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def fast_telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=BOT_TOKEN, scale=SCALE, latency=0.002) as server:
        yield server


@pytest.fixture
def fast_settings(
    settings: Settings,
    fast_telegram: FakeTelegramServer,
    eskiz: FakeEskizServer,
    whatsapp: FakeWhatsAppServer,
) -> Settings:
    value = channel_settings_for(
        settings, fast_telegram, eskiz, whatsapp, delivery_time_scale=SCALE
    )
    use_settings(value)
    return value


async def enqueue_batch(count: int) -> None:
    seller = await make_seller()
    items = [
        Outgoing(
            channel=Channel.TELEGRAM,
            recipient=str(10_000 + n),
            type=MessageType.MARKETING,
            text=f"offer {n}",
        )
        for n in range(count)
    ]
    await outbox.enqueue(seller.id, items, fetch=False)


async def wait_until(condition: object, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def received(server: FakeTelegramServer) -> Counter[str]:
    return Counter(str(message.chat_id) for message in server.sent_messages)


@pytest.mark.timeout(90)
async def test_a_cancelled_worker_and_its_successor_send_each_message_once(
    database: None, fast_settings: Settings, fast_telegram: FakeTelegramServer
) -> None:
    await enqueue_batch(400)
    first = asyncio.create_task(DeliveryWorker(fast_settings).run(asyncio.Event()))
    await wait_until(lambda: len(fast_telegram.sent_messages) >= 120)

    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    stopped_at = len(fast_telegram.sent_messages)
    await drain(fast_settings)

    assert 120 <= stopped_at < 400
    rows = await Notification.all()
    assert all(row.state is S.SENT for row in rows)
    assert received(fast_telegram) == Counter({row.recipient: 1 for row in rows})


async def test_two_workers_on_one_batch_never_send_a_row_twice(
    database: None, fast_settings: Settings, fast_telegram: FakeTelegramServer
) -> None:
    await enqueue_batch(300)
    stop = asyncio.Event()
    workers = [DeliveryWorker(fast_settings) for _ in range(2)]
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        await wait_until(lambda: len(fast_telegram.sent_messages) >= 300)
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    rows = await Notification.all()
    assert all(row.state is S.SENT for row in rows)
    assert received(fast_telegram) == Counter({row.recipient: 1 for row in rows})
    assert all(worker.stats["sent"] > 0 for worker in workers)
    assert {row.claimed_by for row in rows} == {None}


def _worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url or "",
            "REDIS_PREFIX": settings.redis_prefix,
            "BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": settings.telegram_api_url,
            "DELIVERY_TIME_SCALE": str(SCALE),
            "NOTIFICATION_LEASE_SECONDS": str(settings.notification_lease_seconds),
            "NOTIFICATION_POLL_INTERVAL": "0.02",
            "PYTHONPATH": str(ROOT),
        }
    )
    for name in ("ESKIZ_EMAIL", "WHATSAPP_TOKEN"):
        env.pop(name, None)
    return env


async def test_a_killed_worker_process_loses_nothing_and_repeats_nothing(
    database: None, fast_settings: Settings, fast_telegram: FakeTelegramServer
) -> None:
    await enqueue_batch(400)
    process = subprocess.Popen(  # noqa: ASYNC220 - a child we kill -9 on purpose
        [sys.executable, "-m", "tests.notifications.worker_process"],
        cwd=ROOT,
        env=_worker_env(fast_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await wait_until(lambda: len(fast_telegram.sent_messages) >= 100, timeout=60)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
    killed_at = len(fast_telegram.sent_messages)

    worker = await drain(fast_settings, timeout=60)

    rows = await Notification.all()
    got = received(fast_telegram)
    assert 100 <= killed_at < 400
    assert max(got.values()) == 1, "a message arrived twice"
    sent = [row for row in rows if row.state is S.SENT]
    unconfirmed = [row for row in rows if row.state is S.UNCONFIRMED]
    assert len(sent) + len(unconfirmed) == 400
    assert all(got[row.recipient] == 1 for row in sent)
    # Only what the dead worker had handed to Telegram is unknown, and it stays unsent.
    assert len(unconfirmed) <= CONCURRENCY
    assert sum(got[row.recipient] for row in unconfirmed) <= len(unconfirmed)
    assert worker.stats["sent"] > 0  # the successor finished the batch


async def test_a_bulk_send_through_random_failures_and_a_restart(
    database: None, settings: Settings, fast_telegram: FakeTelegramServer, eskiz: FakeEskizServer
) -> None:
    """The issue's check in small: a WhatsApp bulk send of 600 against a fake that throttles
    and fails at random, the worker restarted in the middle: each message exactly once."""
    async with FakeWhatsAppServer(
        access_token="wa-test-token", scale=SCALE, failure_rate=0.05, seed=7
    ) as flaky:
        scaled = channel_settings_for(
            settings, fast_telegram, eskiz, flaky, delivery_time_scale=SCALE
        )
        use_settings(scaled)
        seller = await make_seller()
        body = WhatsAppBulkIn.model_validate(
            {
                "notifications": [
                    {
                        "phone": f"99893{n:07d}",
                        "type": "order_shipped",
                        "data": {"orderId": n, "trackingNumber": f"T{n}"},
                    }
                    for n in range(600)
                ]
            }
        )
        batch = await broadcasts.send_whatsapp_bulk(seller, body)
        first = asyncio.create_task(DeliveryWorker(scaled).run(asyncio.Event()))
        await wait_until(lambda: flaky.stats.sent >= 200, timeout=60)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first

        await drain(scaled, timeout=90)

        progress = await broadcasts.progress(seller.id, batch.id)
        assert (progress.sent, progress.remaining, progress.failed) == (600, 0, 0)
        got = Counter(message.to for message in flaky.sent_messages)
        assert len(got) == 600 and max(got.values()) == 1
        assert flaky.stats.errors > 0  # the random failures happened, and were retried
        assert flaky.stats.throttled == flaky.stats.pair_limited == 0

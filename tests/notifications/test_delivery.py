"""The delivery worker against the fakes: pacing, 429 pauses, retries, refusals, windows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from core.models import Channel, Customer, DeliveryState, MessageType, Notification
from core.services import outbox
from core.services.outbox import Outgoing
from core.settings import Settings, use_settings
from tests.fakes.eskiz import FakeEskizServer
from tests.fakes.telegram import FakeTelegramServer
from tests.fakes.whatsapp import FakeWhatsAppServer
from tests.notifications.conftest import (
    channel_settings_for,
    drain,
    make_customer,
    make_seller,
)

S = DeliveryState


def telegram_item(chat: int | str, text: str = "hello", **extra: Any) -> Outgoing:
    return Outgoing(
        channel=Channel.TELEGRAM,
        recipient=str(chat),
        type=MessageType.CUSTOM,
        text=text,
        **extra,
    )


async def states() -> Counter[str]:
    return Counter(str(row.state) for row in await Notification.all())


def per_chat(server: FakeTelegramServer) -> Counter[int]:
    return Counter(message.chat_id for message in server.sent_messages)


async def test_messages_to_one_chat_are_spaced_without_a_429(
    database: None, settings: Settings, eskiz: FakeEskizServer, whatsapp: FakeWhatsAppServer
) -> None:
    async with FakeTelegramServer(scale=20) as fast:
        scaled = channel_settings_for(
            settings,
            fast,
            eskiz,
            whatsapp,
            delivery_time_scale=20,
        )
        use_settings(scaled)
        seller = await make_seller()
        items = [telegram_item(5, f"m{n}") for n in range(8)] + [
            telegram_item(n) for n in range(100, 140)
        ]
        await outbox.enqueue(seller.id, items, fetch=False)

        await drain(scaled)

        assert fast.stats.rate_limited == 0
        assert per_chat(fast)[5] == 8
        assert [m.text for m in fast.sent_messages if m.chat_id == 5] == [
            f"m{n}" for n in range(8)
        ]
        assert await states() == Counter({"sent": 48})


async def test_a_429_pauses_the_channel_for_the_time_asked(
    database: None, channel_settings: Settings, telegram: FakeTelegramServer
) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [telegram_item(n) for n in range(12)], fetch=False)
    telegram.failure_rate, telegram.failure_statuses = 0.2, (429,)
    telegram.rng = random.Random(10)  # its 8th draw answers 429

    worker = await drain(channel_settings)

    assert worker.stats["throttled"] == telegram.stats.rate_limited > 0
    assert per_chat(telegram) == Counter({n: 1 for n in range(12)})
    sends = [r for r in telegram.requests if r.api_method == "sendMessage"]
    refused = [r.time for r in sends if _refused(r, sends)]
    # After a 429 (retry_after 1 s) nothing new goes out for about a second; a send whose
    # slot was taken just before the answer came back may still leave within 0.1 s.
    for at in refused:
        assert not [r for r in sends if at + 0.1 < r.time < at + 0.95]
    assert all(row.state is S.SENT for row in await Notification.all())


def _refused(request: Any, sends: list[Any]) -> bool:
    """Each chat got one message: every earlier request to that chat was a 429."""
    chat = request.params["chat_id"]
    return any(r.params["chat_id"] == chat and r.time > request.time for r in sends)


async def test_server_errors_are_retried_with_backoff(
    database: None, channel_settings: Settings, telegram: FakeTelegramServer
) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [telegram_item(n) for n in range(10)], fetch=False)
    telegram.failure_rate, telegram.failure_statuses = 0.4, (500,)

    worker = await drain(channel_settings)

    rows = await Notification.all()
    assert all(row.state is S.SENT for row in rows)
    assert per_chat(telegram) == Counter({n: 1 for n in range(10)})
    retried = [row for row in rows if row.attempts > 1]
    assert retried and worker.stats["errors"] == sum(row.failures for row in rows)


async def test_giving_up_after_the_attempt_limit(
    database: None, channel_settings: Settings, telegram: FakeTelegramServer
) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [telegram_item(1)], fetch=False)
    telegram.failure_rate, telegram.failure_statuses = 1.0, (500,)
    use_settings(channel_settings.model_copy(update={"notification_max_attempts": 3}))

    await drain(channel_settings.model_copy(update={"notification_max_attempts": 3}))

    row = await Notification.get()
    assert (row.state, row.attempts) == (S.FAILED, 3)
    assert row.last_error is not None and "gave up after 3 tries" in row.last_error


async def test_a_blocked_bot_fails_at_once_and_the_customer_falls_back(
    database: None, channel_settings: Settings, telegram: FakeTelegramServer
) -> None:
    seller = await make_seller()
    customer = await make_customer(seller, chat_id=77)
    telegram.blocked_chats.add(77)
    telegram.missing_chats.add(78)
    await outbox.enqueue(
        seller.id,
        [telegram_item(77, customer_id=customer.id), telegram_item(78)],
        fetch=False,
    )

    await drain(channel_settings)

    blocked, missing = await Notification.all().order_by("id")
    assert (blocked.state, blocked.attempts) == (S.FAILED, 1)
    assert blocked.last_error == "telegram 403: Forbidden: bot was blocked by the user"
    assert (missing.state, missing.last_error) == (
        S.FAILED,
        "telegram 400: Bad Request: chat not found",
    )
    assert (await Customer.get(id=customer.id)).telegram_chat_id is None


# --- WhatsApp ------------------------------------------------------------------------------


def whatsapp_item(phone: str, mode: str) -> Outgoing:
    template = {"name": "order_delivered", "language": "ru", "params": ["Shop", "12"]}
    return Outgoing(
        channel=Channel.WHATSAPP,
        recipient=phone,
        type=MessageType.ORDER_DELIVERED,
        text="Shop: your order #12 has been delivered.",
        payload={"mode": mode, "template": template},
    )


async def test_whatsapp_outside_the_window_goes_as_its_template(
    database: None, channel_settings: Settings, whatsapp: FakeWhatsAppServer
) -> None:
    seller = await make_seller()
    whatsapp.mark_customer_message("998901111111")
    whatsapp.mark_customer_message("998903333333", at=whatsapp.clock() - 25 * 3600)
    items = [
        whatsapp_item("998901111111", "text"),  # inside the window: free text
        whatsapp_item("998902222222", "template"),  # never wrote: the template
        whatsapp_item("998903333333", "text"),  # we thought open, it closed: template
    ]
    await outbox.enqueue(seller.id, items, fetch=False)

    worker = await drain(channel_settings)

    sent = {m.to: m for m in whatsapp.sent_messages}
    assert len(whatsapp.sent_messages) == 3
    assert sent["998901111111"].type == "text"
    assert sent["998902222222"].type == "template"
    assert sent["998903333333"].type == "template"
    assert not any(m.type == "text" for m in whatsapp.sent_messages[1:] if m.to != "998901111111")
    assert whatsapp.stats.window_errors == 1 and worker.stats["window_closed"] == 1
    assert all(row.state is S.SENT for row in await Notification.all())


async def test_whatsapp_paces_each_recipient(
    database: None, settings: Settings, telegram: FakeTelegramServer, eskiz: FakeEskizServer
) -> None:
    async with FakeWhatsAppServer(access_token="wa-test-token", scale=20) as fast:
        scaled = channel_settings_for(settings, telegram, eskiz, fast, delivery_time_scale=20)
        use_settings(scaled)
        seller = await make_seller()
        await outbox.enqueue(
            seller.id, [whatsapp_item("998901111111", "template") for _ in range(4)], fetch=False
        )

        await drain(scaled)

        assert fast.stats.pair_limited == 0 and fast.stats.sent == 4


# --- Eskiz ---------------------------------------------------------------------------------


def sms_item(phone: str, text: str = "Hello") -> Outgoing:
    return Outgoing(channel=Channel.SMS, recipient=phone, type=MessageType.CUSTOM, text=text)


async def test_sms_survive_an_expired_token_and_report_delivery(
    database: None, channel_settings: Settings, eskiz: FakeEskizServer
) -> None:
    seller = await make_seller()
    eskiz.undeliverable.add("998909999999")
    await outbox.enqueue(seller.id, [sms_item("998901111111")], fetch=False)
    await drain(channel_settings)
    eskiz.expire_tokens()
    await outbox.enqueue(
        seller.id, [sms_item("998902222222"), sms_item("998909999999")], fetch=False
    )

    await drain(channel_settings)
    await _wait_for(lambda: Notification.filter(state=S.SENT).count(), 0, channel_settings)

    rows = await Notification.all().order_by("id")
    assert [row.state for row in rows] == [S.DELIVERED, S.DELIVERED, S.FAILED], [
        (row.state, row.last_error, row.checked_at) for row in rows
    ]
    assert rows[2].last_error == "eskiz: UNDELIV"
    assert [row.provider_message_id for row in rows] == [s.id for s in eskiz.sent_sms]
    assert len(eskiz.calls("/auth/refresh")) == 1


async def _wait_for(read: Any, value: int, settings: Settings) -> None:
    """Run a worker until `read()` returns `value` (status checks are not outbox work)."""
    import asyncio

    from core.services.delivery import DeliveryWorker

    stop = asyncio.Event()
    task = asyncio.create_task(DeliveryWorker(settings).run(stop))
    try:
        for _ in range(400):
            if await read() == value:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_sms_429_and_5xx_are_retried_until_each_goes_once(
    database: None, channel_settings: Settings, eskiz: FakeEskizServer
) -> None:
    seller = await make_seller()
    eskiz.too_many_requests_rate, eskiz.server_error_rate = 0.15, 0.15
    phones = [f"99890{n:07d}" for n in range(15)]
    await outbox.enqueue(seller.id, [sms_item(p) for p in phones], fetch=False)

    await drain(channel_settings, timeout=30)

    assert sorted(s.mobile_phone for s in eskiz.sent_sms) == phones
    assert all(r.state in (S.SENT, S.DELIVERED) for r in await Notification.all())


async def test_idle_worker_stops_cleanly(database: None, channel_settings: Settings) -> None:
    worker = await drain(channel_settings, timeout=0.2)
    assert worker.stats == Counter()
    assert datetime.now(UTC) - timedelta(seconds=5) < datetime.now(UTC)

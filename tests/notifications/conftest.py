"""The three fake channels on 127.0.0.1, settings pointing at them, sellers, a worker runner."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from core.models import Customer, DeliveryState, Notification, Seller
from core.services.delivery import DeliveryWorker
from core.settings import Settings, use_settings
from tests.fakes.eskiz import FakeEskizServer
from tests.fakes.telegram import FakeTelegramServer
from tests.fakes.whatsapp import FakeWhatsAppServer

BOT_TOKEN = "123456:TEST-notifications-token"
ESKIZ_EMAIL, ESKIZ_PASSWORD = "shop@example.com", "eskiz-secret"
WA_TOKEN, WA_NUMBER = "wa-test-token", "1055"
PENDING = (DeliveryState.QUEUED, DeliveryState.SENDING)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=BOT_TOKEN) as server:
        yield server


@pytest.fixture
async def eskiz() -> AsyncIterator[FakeEskizServer]:
    async with FakeEskizServer(email=ESKIZ_EMAIL, password=ESKIZ_PASSWORD) as server:
        yield server


@pytest.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsAppServer]:
    async with FakeWhatsAppServer(
        access_token=WA_TOKEN, phone_number_ids=frozenset({WA_NUMBER})
    ) as server:
        yield server


def channel_settings_for(
    settings: Settings,
    telegram: FakeTelegramServer,
    eskiz: FakeEskizServer,
    whatsapp: FakeWhatsAppServer,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "bot_token": SecretStr(BOT_TOKEN),
        "telegram_api_url": telegram.base_url,
        "eskiz_email": ESKIZ_EMAIL,
        "eskiz_password": SecretStr(ESKIZ_PASSWORD),
        "eskiz_api_url": eskiz.api_url,
        "whatsapp_token": SecretStr(WA_TOKEN),
        "whatsapp_phone_number_id": WA_NUMBER,
        "whatsapp_api_url": whatsapp.base_url + "/v21.0",
        "notification_retry_base": 0.05,
        "notification_retry_max": 0.5,
        "notification_poll_interval": 0.02,
        "notification_lease_seconds": 3.0,
        "eskiz_status_interval": 0.2,
        "sms_rate_per_second": 200.0,
        "channel_timeout": 5.0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@pytest.fixture
def channel_settings(
    settings: Settings,
    telegram: FakeTelegramServer,
    eskiz: FakeEskizServer,
    whatsapp: FakeWhatsAppServer,
) -> Iterator[Settings]:
    value = channel_settings_for(settings, telegram, eskiz, whatsapp)
    use_settings(value)
    yield value
    use_settings(settings)


async def make_seller(
    username: str = "shop",
    *,
    plan: str = "premium",
    telegram_id: int | None = 500,
    full_name: str = "Shop",
    language: str = "en",
    customer_channel: str = "sms",
) -> Seller:
    """A seller without a password (hashing is slow and beside the point here)."""
    return await Seller.create(
        username=username,
        full_name=full_name,
        language=language,
        plan=plan,
        plan_expires_at=datetime.now(UTC) + timedelta(days=30) if plan != "free" else None,
        telegram_id=telegram_id,
        customer_channel=customer_channel,
        referral_code=secrets.token_hex(4).upper(),
    )


async def make_customer(
    seller: Seller,
    phone: str = "998901234567",
    *,
    chat_id: int | None = None,
    language: str | None = "en",
    consent: bool = False,
    name: str = "Aziz",
) -> Customer:
    return await Customer.create(
        seller_id=seller.id,
        phone=phone,
        name=name,
        telegram_chat_id=chat_id,
        language=language,
        marketing_consent=consent,
    )


async def pending() -> int:
    return await Notification.filter(state__in=PENDING).count()


async def drain(
    settings: Settings, *, timeout: float = 15.0, worker: DeliveryWorker | None = None
) -> DeliveryWorker:
    """Run a delivery worker until no row is queued or sending (or `timeout`)."""
    worker = worker or DeliveryWorker(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            if not await pending():
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
    assert await pending() == 0, "the outbox did not drain in time"
    return worker

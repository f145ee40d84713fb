"""Fixtures of the payment tests: merchant settings, gateway clients, sellers, an event log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core import events
from core.models import Payment, Seller
from core.settings import Settings, use_settings
from tests.conftest import register
from tests.payments.clients import (
    CLICK_SECRET,
    CLICK_SERVICE_ID,
    PAYME_KEY,
    ClickClient,
    PaymeClient,
    merchant_settings,
)

PAYMENT_EVENTS = (
    events.PAYMENT_PAID,
    events.PAYMENT_CANCELLED,
    events.PLAN_EXPIRING,
    events.PLAN_EXPIRED,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    value = merchant_settings(settings)
    use_settings(value)
    return value


@pytest.fixture
def payme(seller_client: TestClient) -> PaymeClient:
    return PaymeClient(seller_client, PAYME_KEY)


@pytest.fixture
def click(seller_client: TestClient) -> ClickClient:
    return ClickClient(seller_client, CLICK_SECRET, CLICK_SERVICE_ID)


class EventLog:
    """Records every payment and plan event with its payload."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def handler(self, name: str) -> Callable[..., Awaitable[None]]:
        async def record(**payload: Any) -> None:
            assert payload["conn"] is not None, "events are emitted inside the transaction"
            self.records.append((name, payload))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.records]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [payload for event, payload in self.records if event == name]


@pytest.fixture
def event_log() -> Iterator[EventLog]:
    log = EventLog()
    handlers = {name: log.handler(name) for name in PAYMENT_EVENTS}
    for name, handler in handlers.items():
        events.subscribe(name, handler)
    yield log
    for name, handler in handlers.items():
        events._subscribers[name].remove(handler)


Buy = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def buy(seller_client: TestClient) -> Buy:
    """Create a payment through the REST API; returns the answer's body."""

    async def create(
        provider: str = "payme",
        tier: str = "starter_pro",
        period: str = "monthly",
        amount: int | None = None,
        client: TestClient | None = None,
    ) -> dict[str, Any]:
        from core.payments.service import expected_amount

        body = {
            "amount": amount if amount is not None else expected_amount(tier, period),
            "pricingTier": tier,
            "billingPeriod": period,
            "provider": provider,
        }
        response = await (client or seller_client).post("/api/payment/create-payment", json=body)
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    return create


async def seller_of(transaction_id: str) -> Seller:
    payment = await Payment.get(transaction_id=transaction_id)
    return await Seller.get(id=payment.seller_id)


@pytest.fixture
async def second_client(
    make_client: Callable[..., Awaitable[TestClient]],
) -> AsyncIterator[TestClient]:
    client = await make_client()
    await register(client, "bob", "bob-password-1")
    yield client

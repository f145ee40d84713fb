"""Plans and payments over REST: the catalog, create-payment, verify and history."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from core.models import Payment, PaymentStatus, Seller
from core.plans import PLANS
from core.settings import Settings, use_settings
from tests.conftest import register
from tests.payments.clients import PAYME_KEY, PaymeClient, merchant_settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    value = merchant_settings(settings)
    use_settings(value)
    return value


async def create(client: TestClient, **overrides: Any) -> tuple[int, dict[str, Any]]:
    body = {
        "amount": 300000,
        "pricingTier": "starter_pro",
        "billingPeriod": "monthly",
        "provider": "click",
        **overrides,
    }
    response = await client.post("/api/payment/create-payment", json=body)
    return response.status, await response.json()


async def new_payment(client: TestClient, **overrides: Any) -> str:
    status, body = await create(client, **overrides)
    assert status == 200, body
    transaction_id: str = body["transactionId"]
    return transaction_id


async def pay_with_payme(client: TestClient, transaction_id: str) -> None:
    payment = await Payment.get(transaction_id=transaction_id)
    payme = PaymeClient(client, PAYME_KEY)
    tx_id = payme.new_id()
    await payme.create(tx_id, transaction_id, payment.amount * 100)
    answer = await payme.perform(tx_id)
    assert answer["result"]["state"] == 2, answer


# --- GET /api/plans -------------------------------------------------------------------------


async def test_plans_list_the_catalog_without_login(client: TestClient) -> None:
    response = await client.get("/api/plans")
    body = await response.json()

    assert response.status == 200
    plans = {plan["tier"]: plan for plan in body["data"]}
    assert list(plans) == ["free", "starter_pro", "premium", "enterprise"]
    assert plans["starter_pro"]["monthlyPrice"] == 300_000
    assert plans["starter_pro"]["yearlyPrice"] == PLANS["starter_pro"].yearly_price
    assert plans["starter_pro"]["rateClass"] == {
        "name": "standard",
        "requests": 100,
        "windowSeconds": 900,
    }
    assert plans["premium"]["rateClass"]["requests"] == 500
    assert plans["enterprise"]["rateClass"]["requests"] is None
    assert "video" in plans["premium"]["features"]
    assert "sms" not in plans["free"]["features"]


# --- POST /api/payment/create-payment -------------------------------------------------------


async def test_create_click_payment_as_the_seed_documents(
    seller_client: TestClient, settings: Settings
) -> None:
    status, body = await create(seller_client)
    seller = await Seller.get(username="alice")

    assert status == 200
    assert body["success"] is True
    assert re.fullmatch(rf"SUB-{seller.id}-\d{{13}}", body["transactionId"])
    url = urlsplit(body["paymentUrl"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == settings.click_pay_url
    assert parse_qs(url.query) == {
        "service_id": [settings.click_service_id],
        "merchant_id": [settings.click_merchant_id],
        "amount": ["300000"],
        "transaction_param": [body["transactionId"]],
        "return_url": [settings.public_url],
    }
    assert body["data"]["status"] == "pending"
    assert body["data"]["paymentUrl"] == body["paymentUrl"]


async def test_create_payme_payment_link(seller_client: TestClient, settings: Settings) -> None:
    status, body = await create(
        seller_client,
        provider="payme",
        pricingTier="premium",
        billingPeriod="yearly",
        amount=7_000_000,
    )

    assert status == 200
    prefix = "https://test.paycom.uz/"
    assert body["paymentUrl"].startswith(prefix)
    decoded = base64.b64decode(body["paymentUrl"][len(prefix) :]).decode()
    assert decoded.split(";") == [
        f"m={settings.payme_merchant_id}",
        f"ac.transaction_id={body['transactionId']}",
        "a=700000000",
        "l=uz",
        f"c={settings.public_url}",
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 299_999}, "amount"),
        ({"amount": 300_000, "billingPeriod": "yearly"}, "amount"),
        ({"pricingTier": "gold"}, "pricingTier"),
        ({"pricingTier": "free", "amount": 0}, "pricingTier"),
        ({"provider": "paypal"}, "provider"),
        ({"billingPeriod": "weekly"}, "billingPeriod"),
        ({"amount": -1}, "amount"),
        ({"sellerId": 5}, "sellerId"),
    ],
)
async def test_create_payment_validation(
    seller_client: TestClient, overrides: dict[str, Any], field: str
) -> None:
    status, body = await create(seller_client, **overrides)
    assert status == 400
    assert body["error"]["field"] == field


async def test_wrong_amount_names_the_expected_one(seller_client: TestClient) -> None:
    status, body = await create(seller_client, amount=1000, billingPeriod="yearly")
    assert status == 400
    assert body["error"]["details"]["expected"] == PLANS["starter_pro"].yearly_price
    assert str(PLANS["starter_pro"].yearly_price) in body["error"]["message"]
    assert await Payment.all().count() == 0


async def test_create_payment_needs_login(client: TestClient) -> None:
    status, body = await create(client)
    assert status == 401
    assert body["error"]["code"] == "not_authenticated"


# --- verify and history ---------------------------------------------------------------------


async def test_verify_answers_state_and_subscription(seller_client: TestClient) -> None:
    _, body = await create(seller_client, provider="payme")
    transaction_id = body["transactionId"]

    pending = await (await seller_client.post(f"/api/payment/verify/{transaction_id}")).json()
    await pay_with_payme(seller_client, transaction_id)
    paid = await (await seller_client.post(f"/api/payment/verify/{transaction_id}")).json()

    assert pending["data"]["status"] == "pending"
    assert pending["data"]["subscription"] == {
        "plan": "free",
        "expiresAt": None,
        "active": False,
        "daysLeft": None,
    }
    data = paid["data"]
    assert data["status"] == "paid"
    assert data["paymentUrl"] is None
    assert data["subscription"]["plan"] == "starter_pro"
    assert data["subscription"]["active"] is True
    assert data["subscription"]["daysLeft"] == 30
    assert data["subscription"]["expiresAt"] == data["periodEnd"]


async def test_verify_marks_an_overdue_payment_expired(seller_client: TestClient) -> None:
    _, body = await create(seller_client)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Payment.filter(transaction_id=body["transactionId"]).update(expires_at=past)

    response = await seller_client.post(f"/api/payment/verify/{body['transactionId']}")

    assert (await response.json())["data"]["status"] == "expired"
    payment = await Payment.get(transaction_id=body["transactionId"])
    assert payment.status == PaymentStatus.EXPIRED


async def test_another_sellers_payment_is_not_found(
    seller_client: TestClient, make_client: Callable[..., Awaitable[TestClient]]
) -> None:
    _, body = await create(seller_client)
    other = await make_client()
    await register(other, "mallory", "mallory-password")

    theirs = await other.post(f"/api/payment/verify/{body['transactionId']}")
    missing = await other.post("/api/payment/verify/SUB-1-1")
    too_long = await other.post("/api/payment/verify/" + "x" * 80)
    history = await (await other.get("/api/payment/history")).json()

    assert theirs.status == missing.status == too_long.status == 404
    assert (await theirs.json())["error"] == (await missing.json())["error"]
    assert history["data"] == []


async def test_history_is_newest_first_and_paginated(seller_client: TestClient) -> None:
    ids = []
    for provider in ("click", "payme", "click"):
        ids.append((await create(seller_client, provider=provider))[1]["transactionId"])
    await pay_with_payme(seller_client, ids[1])

    first = await (await seller_client.get("/api/payment/history?limit=2")).json()
    second = await (await seller_client.get("/api/payment/history?limit=2&page=2")).json()
    paid = await (await seller_client.get("/api/payment/history?status=paid")).json()

    assert [p["transactionId"] for p in first["data"]] == [ids[2], ids[1]]
    assert [p["transactionId"] for p in second["data"]] == [ids[0]]
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 3, "pages": 2}
    assert [p["transactionId"] for p in paid["data"]] == [ids[1]]
    assert paid["data"][0]["amount"] == 300_000
    assert paid["data"][0]["provider"] == "payme"


# --- plan rules -----------------------------------------------------------------------------


async def test_same_tier_extends_from_the_current_expiry(seller_client: TestClient) -> None:
    first = (await create(seller_client, provider="payme"))[1]["transactionId"]
    second = (
        await create(seller_client, provider="payme", billingPeriod="yearly", amount=3_000_000)
    )[1]["transactionId"]
    await pay_with_payme(seller_client, first)
    after_first = (await Seller.get(username="alice")).plan_expires_at
    await pay_with_payme(seller_client, second)

    seller = await Seller.get(username="alice")
    assert after_first is not None and seller.plan_expires_at is not None
    assert seller.plan_expires_at - after_first == timedelta(days=365)


async def test_other_tier_keeps_the_days_paid_and_its_refund_restores_the_old_one(
    seller_client: TestClient,
) -> None:
    starter = (await create(seller_client, provider="payme"))[1]["transactionId"]
    premium = (
        await create(seller_client, provider="payme", pricingTier="premium", amount=700_000)
    )[1]["transactionId"]
    await pay_with_payme(seller_client, starter)
    starter_end = (await Seller.get(username="alice")).plan_expires_at
    assert starter_end is not None
    await pay_with_payme(seller_client, premium)
    seller = await Seller.get(username="alice")
    # Premium at once, from the later of now and the current expiry: no paid day is lost.
    assert (seller.plan, seller.plan_expires_at) == ("premium", starter_end + timedelta(days=30))

    payme = PaymeClient(seller_client, PAYME_KEY)
    statement = await payme.statement(0, 10**13)
    premium_tx = next(
        row["id"]
        for row in statement["result"]["transactions"]
        if row["account"]["transaction_id"] == premium
    )
    await payme.cancel(premium_tx, reason=5)

    seller = await Seller.get(username="alice")
    assert (seller.plan, seller.plan_expires_at) == ("starter_pro", starter_end)


@pytest.mark.parametrize("provider", ["click", "payme"])
async def test_a_provider_without_credentials_is_refused_and_nothing_is_stored(
    seller_client: TestClient, settings: Settings, provider: str
) -> None:
    from pydantic import SecretStr

    settings.click_secret_key = settings.payme_key = SecretStr("")

    status, body = await create(seller_client, provider=provider)

    assert status == 503
    assert (body["error"]["code"], body["error"]["field"]) == (
        "provider_not_configured",
        "provider",
    )
    assert await Payment.all().count() == 0

"""The notification endpoints of the seed, the outbox views and `/api/customers`."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from core.models import Channel, Customer, DeliveryState, Notification, Seller
from core.settings import Settings, use_settings
from tests.conftest import register
from tests.fakes.whatsapp import FakeWhatsAppServer
from tests.notifications.conftest import (  # noqa: F401  (fixtures)
    channel_settings,
    drain,
    eskiz,
    telegram,
    whatsapp,
)

MakeClient = Callable[..., Awaitable[TestClient]]
PHONE = "998901234567"


async def seller_of(client: TestClient, username: str, plan: str = "premium") -> Seller:
    data = await register(client, username)
    seller = await Seller.get(id=data["id"])
    seller.plan, seller.telegram_id = plan, 7000 + seller.id
    seller.plan_expires_at = None
    await seller.save()
    return seller


async def post(client: TestClient, path: str, body: Any, **headers: str) -> tuple[int, Any]:
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def get(client: TestClient, path: str) -> tuple[int, Any]:
    response = await client.get(path)
    return response.status, await response.json()


@pytest.fixture
async def shop(client: TestClient, channel_settings: Settings) -> Seller:  # noqa: F811
    return await seller_of(client, "shop")


# --- Telegram ------------------------------------------------------------------------------


async def test_telegram_send_to_own_chat_and_to_a_customer(
    client: TestClient, shop: Seller
) -> None:
    customer = await Customer.create(seller_id=shop.id, phone=PHONE, telegram_chat_id=31337)

    own_status, own = await post(
        client, "/api/telegram/send", {"chatId": shop.telegram_id, "message": "Hi me"}
    )
    status, body = await post(client, "/api/telegram/send", {"chatId": 31337, "message": "Hi"})

    assert (own_status, status) == (202, 202)
    assert body["success"] is True
    data = body["data"]
    assert (data["channel"], data["recipient"], data["status"]) == ("telegram", "31337", "queued")
    assert (data["customerId"], data["attempts"], data["text"]) == (customer.id, 0, "Hi")
    assert own["data"]["customerId"] is None
    status, one = await get(client, f"/api/notifications/{data['id']}")
    assert (status, one["data"]["id"]) == (200, data["id"])


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"chatId": 123456, "message": "Hi"}, 403, "chat_not_allowed", "chatId"),
        ({"message": "Hi"}, 400, "validation_error", "chatId"),
        ({"chatId": 1, "message": ""}, 400, "validation_error", "message"),
        ({"chatId": 1, "message": "Hi", "extra": 1}, 400, "validation_error", "extra"),
    ],
)
async def test_telegram_send_refusals(
    client: TestClient,
    shop: Seller,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    got, answer = await post(client, "/api/telegram/send", body)

    assert got == status
    assert (answer["error"]["code"], answer["error"].get("field")) == (code, field)
    assert await Notification.all().count() == 0


async def test_a_repeated_request_with_the_same_idempotency_key_queues_once(
    client: TestClient, shop: Seller
) -> None:
    body = {"chatId": shop.telegram_id, "message": "Once"}
    _, first = await post(client, "/api/telegram/send", body, **{"Idempotency-Key": "k-1"})
    _, again = await post(client, "/api/telegram/send", body, **{"Idempotency-Key": "k-1"})
    _, other = await post(client, "/api/telegram/send", body, **{"Idempotency-Key": "k-2"})

    assert first["data"]["id"] == again["data"]["id"] != other["data"]["id"]
    assert await Notification.all().count() == 2


# --- SMS and one-time codes ----------------------------------------------------------------


async def test_sms_needs_a_plan_with_sms(client: TestClient, channel_settings: Settings) -> None:  # noqa: F811
    await seller_of(client, "freebie", plan="free")

    status, body = await post(
        client, "/api/premium/sms/send", {"phone": PHONE, "message": "Hi", "provider": "eskiz"}
    )

    assert status == 403
    assert body["error"]["code"] == "plan_required"
    assert body["error"]["details"]["requiredPlan"] == "starter_pro"
    assert "starter_pro" in body["error"]["message"]


async def test_sms_send_is_queued_and_delivered(
    client: TestClient,
    shop: Seller,
    channel_settings: Settings,  # noqa: F811
    eskiz: Any,  # noqa: F811
) -> None:
    status, body = await post(
        client,
        "/api/premium/sms/send",
        {"phone": "+998 90 123 45 67", "message": "Your order is ready", "provider": "eskiz"},
    )
    bad_status, bad = await post(
        client, "/api/premium/sms/send", {"phone": "12345", "message": "Hi", "provider": "eskiz"}
    )
    other_status, other = await post(
        client,
        "/api/premium/sms/send",
        {"phone": PHONE, "message": "Hi", "provider": "playmobile"},
    )

    assert (status, body["data"]["recipient"], body["data"]["channel"]) == (202, PHONE, "sms")
    assert (bad_status, bad["error"]["field"]) == (400, "phone")
    assert (other_status, other["error"]["field"]) == (400, "provider")
    await drain(channel_settings)
    _, after = await get(client, f"/api/notifications/{body['data']['id']}")
    assert after["data"]["status"] in ("sent", "delivered")
    assert after["data"]["providerMessageId"] == eskiz.sent_sms[0].id
    assert after["data"]["attempts"] == 1


async def test_otp_send_and_verify(client: TestClient, shop: Seller) -> None:
    status, sent = await post(
        client, "/api/premium/sms/send-otp", {"phone": PHONE, "code": "482913"}
    )
    wrong_status, wrong = await post(
        client, "/api/premium/sms/verify-otp", {"phone": PHONE, "code": "000000"}
    )
    ok_status, ok = await post(
        client, "/api/premium/sms/verify-otp", {"phone": PHONE, "code": "482913"}
    )
    again_status, _ = await post(
        client, "/api/premium/sms/verify-otp", {"phone": PHONE, "code": "482913"}
    )
    soon_status, soon = await post(client, "/api/premium/sms/send-otp", {"phone": PHONE})

    assert status == 202 and sent["data"]["phone"] == PHONE
    assert datetime.fromisoformat(sent["data"]["expiresAt"]) > datetime.now(UTC)
    assert (wrong_status, wrong["error"]["code"]) == (403, "otp_invalid")
    assert (ok_status, ok["data"]) == (200, {"verified": True})
    assert again_status == 403
    assert (soon_status, soon["error"]["code"]) == (429, "rate_limited")


async def test_sms_daily_cap_answers_429(
    client: TestClient,
    channel_settings: Settings,  # noqa: F811
) -> None:
    seller = await seller_of(client, "small", plan="starter_pro")
    await Notification.bulk_create(
        [
            Notification(
                seller_id=seller.id,
                channel=Channel.SMS,
                recipient=PHONE,
                type="custom",
                next_attempt_at=datetime.now(UTC),
                dedupe_key=f"seed:{n}",
            )
            for n in range(200)
        ]
    )

    response = await client.post(
        "/api/premium/sms/send", json={"phone": PHONE, "message": "Hi", "provider": "eskiz"}
    )

    body = await response.json()
    assert (response.status, body["error"]["code"]) == (429, "daily_cap_reached")
    assert int(response.headers["Retry-After"]) > 0


# --- WhatsApp ------------------------------------------------------------------------------


async def test_whatsapp_send_validates_the_type_values(client: TestClient, shop: Seller) -> None:
    missing_status, missing = await post(
        client,
        "/api/whatsapp/send",
        {"phone": PHONE, "type": "order_shipped", "data": {"orderId": 12}},
    )
    type_status, bad_type = await post(
        client, "/api/whatsapp/send", {"phone": PHONE, "type": "notice", "data": {}}
    )
    consent_status, consent = await post(
        client,
        "/api/whatsapp/send",
        {"phone": PHONE, "type": "marketing", "data": {"text": "Sale"}},
    )
    status, body = await post(
        client,
        "/api/whatsapp/send",
        {"phone": PHONE, "type": "order_shipped", "data": {"orderId": 12, "trackingNumber": "T1"}},
    )

    assert (missing_status, missing["error"]["field"]) == (400, "data.trackingNumber")
    assert (type_status, bad_type["error"]["field"]) == (400, "type")
    assert (consent_status, consent["error"]["code"]) == (403, "marketing_consent_required")
    assert (status, body["data"]["channel"], body["data"]["type"]) == (
        202,
        "whatsapp",
        "order_shipped",
    )
    row = await Notification.get(id=body["data"]["id"])
    assert row.payload["template"]["params"] == ["shop", "12", "T1"]


async def test_whatsapp_bulk_answers_at_once_and_reports_progress(
    client: TestClient,
    shop: Seller,
    channel_settings: Settings,  # noqa: F811
    whatsapp: FakeWhatsAppServer,  # noqa: F811
) -> None:
    await Customer.create(seller_id=shop.id, phone="998905555555", marketing_consent=True)
    items = [
        {
            "partnerId": shop.id,
            "phone": "998901111111",
            "type": "order_delivered",
            "data": {"orderId": 1},
        },
        {"phone": "+998 90 222 22 22", "type": "payment_received", "data": {"amount": 300000}},
        {"phone": "998905555555", "type": "marketing", "data": {"text": "Spring sale"}},
        {"phone": "998903333333", "type": "marketing", "data": {"text": "Spring sale"}},
    ]

    status, body = await post(
        client, "/api/whatsapp/send-bulk", {"notifications": items}, **{"Idempotency-Key": "b1"}
    )
    _, again = await post(
        client, "/api/whatsapp/send-bulk", {"notifications": items}, **{"Idempotency-Key": "b1"}
    )

    assert status == 202, body
    assert body["batchId"] == body["data"]["id"] == again["batchId"]
    data = body["data"]
    assert (data["total"], data["queued"], data["failed"], data["done"]) == (4, 3, 1, False)
    await drain(channel_settings)
    _, progress = await get(client, f"/api/notifications/batches/{body['batchId']}")
    done = progress["data"]
    assert (done["sent"], done["failed"], done["remaining"], done["done"]) == (3, 1, 0, True)
    assert done["finishedAt"] is not None
    assert sorted(m.to for m in whatsapp.sent_messages) == [
        "998901111111",
        "998902222222",
        "998905555555",
    ]
    _, failed = await get(
        client, f"/api/notifications?status=failed&channel=whatsapp&batchId={body['batchId']}"
    )
    assert [row["lastError"] for row in failed["data"]] == ["no marketing consent"]
    assert failed["pagination"]["total"] == 1


async def test_a_bad_bulk_item_names_itself(client: TestClient, shop: Seller) -> None:
    good = {"phone": PHONE, "type": "order_delivered", "data": {"orderId": 1}}
    bad_phone = {**good, "phone": "not a phone"}
    no_value = {**good, "data": {}}

    phone_status, phone = await post(
        client, "/api/whatsapp/send-bulk", {"notifications": [good, bad_phone]}
    )
    value_status, value = await post(
        client, "/api/whatsapp/send-bulk", {"notifications": [good, good, no_value]}
    )

    assert (phone_status, phone["error"]["field"]) == (400, "notifications[1].phone")
    assert (value_status, value["error"]["field"]) == (400, "notifications[2].data.orderId")
    assert await Notification.all().count() == 0


async def test_bulk_partner_id_must_be_the_sellers_own(client: TestClient, shop: Seller) -> None:
    item = {
        "partnerId": shop.id + 100,
        "phone": PHONE,
        "type": "order_delivered",
        "data": {"orderId": 1},
    }

    status, body = await post(client, "/api/whatsapp/send-bulk", {"notifications": [item]})

    assert (status, body["error"]["field"]) == (404, "notifications[0].partnerId")


async def test_another_sellers_notifications_are_not_found(
    client: TestClient, shop: Seller, make_client: MakeClient
) -> None:
    _, body = await post(
        client, "/api/telegram/send", {"chatId": shop.telegram_id, "message": "x"}
    )
    _, bulk = await post(
        client,
        "/api/whatsapp/send-bulk",
        {"notifications": [{"phone": PHONE, "type": "order_delivered", "data": {"orderId": 1}}]},
    )
    other = await make_client()
    await seller_of(other, "other")

    one_status, _ = await get(other, f"/api/notifications/{body['data']['id']}")
    batch_status, _ = await get(other, f"/api/notifications/batches/{bulk['batchId']}")
    _, listing = await get(other, "/api/notifications")

    assert (one_status, batch_status) == (404, 404)
    assert listing["data"] == []


async def test_the_list_filters_by_status_and_channel(client: TestClient, shop: Seller) -> None:
    await post(client, "/api/telegram/send", {"chatId": shop.telegram_id, "message": "a"})
    await post(client, "/api/premium/sms/send", {"phone": PHONE, "message": "b"})
    await Notification.filter(channel=Channel.SMS).update(state=DeliveryState.FAILED)

    _, failed = await get(client, "/api/notifications?status=failed")
    _, telegram_rows = await get(client, "/api/notifications?channel=telegram")
    bad_status, bad = await get(client, "/api/notifications?status=lost")

    assert [row["channel"] for row in failed["data"]] == ["sms"]
    assert [row["status"] for row in telegram_rows["data"]] == ["queued"]
    assert (bad_status, bad["error"]["field"]) == (400, "status")


# --- customers -----------------------------------------------------------------------------


async def test_customers_endpoints(
    client: TestClient, shop: Seller, make_client: MakeClient
) -> None:
    status, created = await post(
        client,
        "/api/customers",
        {
            "name": "Aziza",
            "phone": "+998 90 123 45 67",
            "language": "ru",
            "marketingConsent": True,
        },
    )
    dup_status, dup = await post(client, "/api/customers", {"phone": PHONE})
    _, invite = await get(client, "/api/customers/invite-link")
    customer_id = created["data"]["id"]
    response = await client.put(f"/api/customers/{customer_id}", json={"marketingConsent": False})
    updated = await response.json()
    _, listing = await get(client, "/api/customers?consent=false")
    _, one = await get(client, f"/api/customers/{customer_id}")
    other = await make_client()
    await seller_of(other, "other")
    hidden_status, _ = await get(other, f"/api/customers/{customer_id}")

    assert status == 201
    data = created["data"]
    assert (data["phone"], data["language"], data["marketingConsent"]) == (PHONE, "ru", True)
    assert data["channel"] == "sms" and data["telegramLinked"] is False
    assert data["deepLink"].startswith("https://t.me/SellerCloudXBot?start=c")
    assert (dup_status, dup["error"]["code"]) == (409, "conflict")
    assert invite["data"]["deepLink"].startswith("https://t.me/SellerCloudXBot?start=c")
    assert invite["data"]["deepLink"] != data["deepLink"]
    assert updated["data"]["marketingConsent"] is False
    assert [c["id"] for c in listing["data"]] == [customer_id]
    assert one["data"]["deepLink"] == data["deepLink"]
    assert hidden_status == 404


# --- WhatsApp's webhook --------------------------------------------------------------------

HOOK_SECRET = "meta-app-secret"


@pytest.fixture
def hook_settings(channel_settings: Settings) -> Iterator[Settings]:  # noqa: F811
    value = channel_settings.model_copy(
        update={
            "whatsapp_verify_token": SecretStr("verify-me"),
            "whatsapp_app_secret": SecretStr(HOOK_SECRET),
        }
    )
    use_settings(value)
    yield value
    use_settings(channel_settings)


def signed(body: bytes, secret: str = HOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def test_the_webhook_subscription_check(client: TestClient, hook_settings: Settings) -> None:
    good = await client.get(
        "/whatsapp/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"},
    )
    bad = await client.get(
        "/whatsapp/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "42"},
    )

    assert (good.status, await good.text()) == (200, "42")
    assert bad.status == 403


async def test_the_webhook_opens_the_window_and_reports_delivery(
    client: TestClient, shop: Seller, hook_settings: Settings
) -> None:
    customer = await Customer.create(seller_id=shop.id, phone=PHONE)
    _, queued = await post(
        client,
        "/api/whatsapp/send",
        {"phone": PHONE, "type": "order_delivered", "data": {"orderId": 7}},
    )
    await Notification.filter(id=queued["data"]["id"]).update(
        state=DeliveryState.SENT, provider_message_id="wamid.ABC"
    )
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messages": [{"from": PHONE, "timestamp": str(now), "type": "text"}],
                            "statuses": [
                                {"id": "wamid.ABC", "status": "delivered", "timestamp": str(now)}
                            ],
                        },
                    }
                ]
            }
        ],
    }
    body = json.dumps(payload).encode()

    forged = await client.post("/whatsapp/webhook", data=body, headers=signed(body, "wrong"))
    response = await client.post("/whatsapp/webhook", data=body, headers=signed(body))
    _, after = await post(
        client,
        "/api/whatsapp/send",
        {"phone": PHONE, "type": "order_delivered", "data": {"orderId": 8}},
    )

    assert (forged.status, response.status) == (403, 200)
    assert (await Customer.get(id=customer.id)).whatsapp_last_inbound_at is not None
    delivered = await Notification.get(id=queued["data"]["id"])
    assert (delivered.state, delivered.delivered_at is not None) == (DeliveryState.DELIVERED, True)
    # The customer wrote a moment ago: free text may go now, no template needed.
    assert (await Notification.get(id=after["data"]["id"])).payload["mode"] == "text"

"""Abuse and cost caps at the web edge: page size, body size, malformed bodies, content types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.models import Notification, Seller
from core.plans import PLANS
from core.settings import Settings
from tests.conftest import browser_headers, register
from tests.notifications.conftest import (  # noqa: F401  (fixtures)
    channel_settings,
    eskiz,
    telegram,
    whatsapp,
)
from web.app import create_app

AiohttpClient = Callable[..., Awaitable[TestClient]]


async def served_document(client: TestClient) -> dict[str, Any]:
    return await (await client.get("/api/openapi.json")).json()


def body_operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, methods in doc["paths"].items()
        for method, spec in methods.items()
        if "application/json" in spec.get("requestBody", {}).get("content", {})
    ]


def fill(path: str) -> str:
    return path.replace("{id}", "1").replace("{transactionId}", "SUB-1-1")


async def test_every_list_documents_and_enforces_a_page_cap(seller_client: TestClient) -> None:
    doc = await served_document(seller_client)
    lists = [
        (path, param)
        for path, methods in doc["paths"].items()
        for param in methods.get("get", {}).get("parameters", [])
        if param["name"] in {"limit", "pageSize", "perPage"}
    ]
    assert lists
    for path, param in lists:
        assert 1 <= param["schema"]["maximum"] <= 100, path
        too_many = await seller_client.get(fill(path), params={param["name"]: "1000"})
        body = await too_many.json()
        assert too_many.status in {400, 403}, path
        if too_many.status == 400:
            assert body["error"]["field"] == param["name"]


async def test_a_body_over_the_cap_is_413_before_it_is_read(seller_client: TestClient) -> None:
    huge = b'{"name": "' + b"x" * (1_048_576 + 10) + b'"}'
    response = await seller_client.post(
        "/api/products", data=huge, headers={"Content-Type": "application/json"}
    )
    body = await response.json()
    assert response.status == 413
    assert body["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_over_the_cap_is_413(seller_client: TestClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    response = await seller_client.post(
        "/api/products", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_the_body_cap_comes_from_settings(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.max_body_bytes = 100
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    response = await client.post(
        "/api/register", json={"username": "alice", "password": "p" * 120}
    )
    assert response.status == 413


MALFORMED: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not json", b"{'single': 'quotes'}"),
    ("truncated", b'{"name": "Bo'),
    ("array", b"[1, 2, 3]"),
    ("string", b'"just a string"'),
    ("null", b"null"),
    ("nan", b'{"price": NaN}'),
    ("infinity", b'{"price": Infinity}'),
    ("huge integer", b'{"price": ' + b"9" * 5000 + b"}"),
    ("huge exponent", b'{"price": 1e999999}'),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("deep objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("bad utf-8", b'{"name": "\xff\xfe"}'),
    ("utf-16", '{"name": "Box"}'.encode("utf-16")),
    ("nul byte", b'{"name": "Bo\x00x", "sku": "A", "price": 1}'),
    ("duplicate keys", b'{"price": 1, "price": "x"}'),
    ("wrong types", b'{"name": 1, "sku": [], "price": "many"}'),
    ("negative", b'{"name": "Box", "sku": "B", "price": -1}'),
    ("overflow", b'{"name": "Box", "sku": "B", "price": 18446744073709551617}'),
]


@pytest.mark.parametrize(("label", "raw"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_bodies_are_400_on_every_json_route(
    seller_client: TestClient, label: str, raw: bytes
) -> None:
    doc = await served_document(seller_client)
    for method, path in body_operations(doc):
        if path.startswith("/api/admin/"):
            continue
        response = await seller_client.request(
            method, fill(path), data=raw, headers={"Content-Type": "application/json"}
        )
        text = await response.text()
        assert response.status in {400, 404}, (label, method, path, text[:200])
        body = json.loads(text)
        assert body["success"] is False
        assert "Traceback" not in text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_json_routes_refuse_other_content_types(
    seller_client: TestClient, content_type: str
) -> None:
    response = await seller_client.post(
        "/api/products",
        data=b'{"name": "Box", "sku": "B", "price": 1}',
        headers={"Content-Type": content_type},
    )
    assert response.status == 415


async def test_odd_query_strings_are_400_not_500(seller_client: TestClient) -> None:
    for query in (
        "page=0",
        "page=-1",
        "page=1e9",
        "page=99999999999999999999999",
        "limit=abc",
        "search=" + "x" * 5000,
        "status=bogus",
        "page=%00",
        "page[]=1",
    ):
        response = await seller_client.get("/api/products?" + query)
        assert response.status in {200, 400}, query
        orders = await seller_client.get("/api/orders?" + query)
        assert orders.status in {200, 400}, query


@pytest.mark.parametrize(
    "path",
    [
        "/api/products/0",
        "/api/products/-1",
        "/api/products/1.5",
        "/api/products/99999999999999999999",
        "/api/products/1%20OR%201=1",
        "/api/products/%2e%2e%2f",
        "/api/orders/abc",
    ],
)
async def test_odd_ids_are_404(seller_client: TestClient, path: str) -> None:
    response = await seller_client.get(path)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_unknown_methods_are_405_with_allow(seller_client: TestClient) -> None:
    response = await seller_client.request("PATCH", "/api/products")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert (await response.json())["error"]["code"] == "method_not_allowed"


# --- cost caps through the API: SMS bombing and bulk sends ------------------------------------


async def _premium(client: TestClient, username: str) -> Seller:
    data = await register(client, username)
    seller = await Seller.get(id=data["id"])
    seller.plan, seller.plan_expires_at = "premium", datetime.now(UTC) + timedelta(days=30)
    await seller.save()
    return seller


async def test_one_phone_cannot_be_flooded_with_codes_from_many_accounts(
    client: TestClient,
    make_client: Callable[..., Awaitable[TestClient]],
    channel_settings: Settings,  # noqa: F811
) -> None:
    channel_settings.otp_resend_seconds = 0
    channel_settings.otp_per_phone_per_hour = 3
    await _premium(client, "first")
    other = await make_client()
    await _premium(other, "second")
    victim = {"phone": "+998 90 555 44 33"}

    statuses = [
        (await client.post("/api/premium/sms/send-otp", json=victim)).status,
        (await client.post("/api/premium/sms/send-otp", json=victim)).status,
        (await other.post("/api/premium/sms/send-otp", json=victim)).status,
    ]
    refused = await other.post("/api/premium/sms/send-otp", json=victim)
    body = await refused.json()
    elsewhere = await other.post("/api/premium/sms/send-otp", json={"phone": "901112233"})

    assert statuses == [202, 202, 202]
    assert (refused.status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert elsewhere.status == 202


async def test_a_bulk_send_cannot_pass_the_daily_whatsapp_cap(
    client: TestClient,
    channel_settings: Settings,  # noqa: F811
) -> None:
    seller = await _premium(client, "bulky")
    cap = PLANS["premium"].daily_whatsapp
    item = {"phone": "+998 90 123 45 67", "type": "custom", "data": {"text": "hi"}}

    response = await client.post(
        "/api/whatsapp/send-bulk", json={"notifications": [item] * (cap + 1)}
    )
    body = await response.json()

    assert (response.status, body["error"]["code"]) == (429, "daily_cap_reached")
    assert int(response.headers["Retry-After"]) >= 1
    assert await Notification.filter(seller_id=seller.id).count() == 0

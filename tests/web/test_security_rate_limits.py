"""Per-plan request limits on /api: counted per seller (per address before login), with
the figures on every answer, 429 past the limit, exemptions, spoofing and a broken store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from core.models import Seller
from core.services.sessions import DatabaseSessions
from core.settings import Settings
from tests.conftest import browser_headers, register
from web.app import create_app

AiohttpClient = Callable[..., Awaitable[TestClient]]


async def spend(client: TestClient, count: int, path: str = "/api/products", **kw: object) -> list:
    """`count` sequential GETs; returns their statuses."""
    statuses = []
    for _ in range(count):
        response = await client.get(path, **kw)  # type: ignore[arg-type]
        statuses.append(response.status)
        response.release()
    return statuses


async def set_plan(username: str, tier: str, expires_in: timedelta | None = None) -> None:
    expires = datetime.now(UTC) + expires_in if expires_in is not None else None
    await Seller.filter(username=username).update(plan=tier, plan_expires_at=expires)


async def test_standard_seller_gets_100_then_429_with_headers(seller_client: TestClient) -> None:
    first = await seller_client.get("/api/products")
    assert first.status == 200
    assert first.headers["X-RateLimit-Limit"] == "100"
    assert first.headers["X-RateLimit-Remaining"] == "99"
    assert 1 <= int(first.headers["X-RateLimit-Reset"]) <= 900

    statuses = await spend(seller_client, 99)
    refused = await seller_client.get("/api/products")
    body = await refused.json()

    assert set(statuses) == {200}
    assert refused.status == 429
    assert body["success"] is False and body["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    assert refused.headers["X-RateLimit-Limit"] == "100"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) >= 1


async def test_every_api_answer_carries_the_remaining_count(seller_client: TestClient) -> None:
    answers = [
        await seller_client.get("/api/products"),
        await seller_client.get("/api/products/999"),  # 404
        await seller_client.post("/api/products", json={"name": ""}),  # 400
        await seller_client.get("/api/nowhere"),  # no such route
        await seller_client.get("/api/openapi.json"),
    ]
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in answers]
    assert remaining == [99, 98, 97, 96, 95]


async def test_the_limit_is_per_seller(client: TestClient, make_client) -> None:
    await register(client, "alice")
    other = await make_client()
    await register(other, "bob")

    assert set(await spend(client, 100)) == {200}
    assert (await client.get("/api/products")).status == 429
    assert (await other.get("/api/products")).status == 200


async def test_before_login_the_limit_is_per_address(client: TestClient) -> None:
    statuses = await spend(client, 100, "/api/user")
    refused = await client.get("/api/user")

    assert set(statuses) == {401}
    assert refused.status == 429
    # Logging in cannot be used to dodge it either: register is an /api call too.
    blocked = await client.post(
        "/api/register", json={"username": "late", "password": "long-password"}
    )
    assert blocked.status == 429


async def test_premium_gets_500(seller_client: TestClient) -> None:
    await set_plan("alice", "premium", timedelta(days=30))
    statuses = await spend(seller_client, 500)
    refused = await seller_client.get("/api/products")
    assert set(statuses) == {200}
    assert refused.status == 429
    assert refused.headers["X-RateLimit-Limit"] == "500"


async def test_an_expired_premium_plan_counts_as_standard(seller_client: TestClient) -> None:
    await set_plan("alice", "premium", timedelta(days=-1))
    response = await seller_client.get("/api/products")
    assert response.headers["X-RateLimit-Limit"] == "100"


async def test_enterprise_is_unlimited(seller_client: TestClient) -> None:
    await set_plan("alice", "enterprise", timedelta(days=30))
    statuses = await spend(seller_client, 600)
    assert set(statuses) == {200}
    last = await seller_client.get("/api/products")
    assert "X-RateLimit-Remaining" not in last.headers


@pytest.mark.parametrize(
    "path",
    ["/health", "/api/payment/callback/click/prepare", "/api/payment/callback/payme"],
)
async def test_callbacks_and_health_are_exempt(client: TestClient, path: str) -> None:
    statuses = []
    for _ in range(110):
        if path == "/health":
            response = await client.get(path)
        else:
            response = await client.post(path, data=b"{}", headers={"Content-Type": "text/plain"})
        statuses.append(response.status)
        assert "X-RateLimit-Remaining" not in response.headers
        response.release()
    assert 429 not in statuses


async def test_telegram_webhook_is_exempt(client: TestClient) -> None:
    statuses = []
    for _ in range(110):
        response = await client.post("/telegram/webhook", json={})
        statuses.append(response.status)
        response.release()
    assert 429 not in statuses


async def test_forged_forwarded_for_does_not_reset_the_count(client: TestClient) -> None:
    statuses = []
    for n in range(101):
        response = await client.get(
            "/api/user", headers={"X-Forwarded-For": f"10.0.{n // 250}.{n % 250}"}
        )
        statuses.append(response.status)
        response.release()
    assert statuses[-1] == 429


async def test_a_trusted_proxy_is_believed_from_the_right(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.trusted_proxies = "127.0.0.1/32, ::1/128"
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))

    # The client cannot pick its key by prepending: the last untrusted hop counts.
    for n in range(100):
        response = await client.get(
            "/api/user", headers={"X-Forwarded-For": f"6.6.6.{n}, 203.0.113.7"}
        )
        response.release()
    spoofed = await client.get("/api/user", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.7"})
    someone_else = await client.get("/api/user", headers={"X-Forwarded-For": "203.0.113.8"})
    assert spoofed.status == 429
    assert someone_else.status == 401


async def test_disabled_limiter_counts_nothing(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.rate_limit_enabled = False
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    statuses = await spend(client, 120, "/api/user")
    assert set(statuses) == {401}


async def _blackhole() -> tuple[asyncio.Server, int]:
    """A TCP server that accepts and never answers: a hung Redis."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(-1)
        finally:
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("failure", ["refused", "hung"])
async def test_a_dead_redis_fails_closed_with_503(
    database: None,
    settings: Settings,
    aiohttp_client: AiohttpClient,
    unused_tcp_port: int,
    failure: str,
) -> None:
    server = None
    port = unused_tcp_port
    if failure == "hung":
        server, port = await _blackhole()
    broken = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{port}/0",
            "redis_timeout": 0.5,
            "rate_limit_timeout": 0.5,
        }
    )
    app = create_app(broken, session_backend=DatabaseSessions())
    client = await aiohttp_client(app, headers=browser_headers(settings))
    try:
        started = time.monotonic()
        response = await client.get("/api/products")
        elapsed = time.monotonic() - started
        body = await response.json()
    finally:
        if server is not None:
            server.close()
    assert response.status == 503
    assert body["success"] is False and body["error"]["code"] == "service_unavailable"
    assert elapsed < 3
    # Exempt routes do not depend on the store.
    assert (await client.get("/health")).status == 200

"""Failure behaviour: Redis down or hanging, slow requests, PostgreSQL connections cut.

What "keeps answering reads" means with Redis down (sessions live in Redis in scale-out):
/health, /api/openapi.json, /api/docs and other public reads answer as usual; anything
that needs a session or a counter answers 503 in the JSON envelope, fast; /ready says 503
and names Redis.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.settings import Settings
from tests.conftest import register
from tests.scale.cluster import terminate_connections
from web.app import create_app

MakeClient = Callable[..., Awaitable[TestClient]]
COOKIE = {"scx_session": "k" * 43}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def hanging_redis() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    for writer in writers:
        writer.close()
    server.close()


async def client_with(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[TestClient]], **changes: object
) -> TestClient:
    return await aiohttp_client(create_app(settings.model_copy(update=changes)))


@pytest.mark.parametrize("redis", ["down", "hanging"])
async def test_redis_outage_answers_503_fast_where_redis_is_needed(
    database: None,
    settings: Settings,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hanging_redis: str,
    redis: str,
) -> None:
    url = hanging_redis if redis == "hanging" else f"redis://127.0.0.1:{closed_port()}/0"
    client = await client_with(
        settings, aiohttp_client, redis_url=url, redis_timeout=0.3, rate_limit_timeout=0.3
    )

    started = time.monotonic()
    answers = [
        await client.get("/api/user", cookies=COOKIE),
        await client.get("/api/orders", cookies=COOKIE),
        await client.post("/api/login", json={"username": "a", "password": "b" * 10}),
    ]
    elapsed = time.monotonic() - started
    ready = await client.get("/ready")

    assert [a.status for a in answers] == [503, 503, 503]
    for answer in answers:
        body = await answer.json()
        assert body["success"] is False
        assert body["error"]["code"] == "service_unavailable"
        assert answer.headers["Retry-After"]
    assert elapsed < 6  # three requests, each bounded by the Redis timeout (and one retry)
    assert ready.status == 503
    assert (await ready.json())["checks"] == {"database": True, "redis": False}


async def test_redis_outage_keeps_health_metrics_and_payment_callbacks(
    database: None, settings: Settings, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    """What needs no session and no counter goes on: payment providers still reach us."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    client = await client_with(settings, aiohttp_client, redis_url=url, redis_timeout=0.3)

    health = await client.get("/health")
    scrape = await client.get("/metrics")
    payme = await client.post(
        "/api/payment/callback/payme",
        json={"jsonrpc": "2.0", "id": 1, "method": "CheckTransaction", "params": {"id": "x"}},
    )

    assert health.status == 200
    assert scrape.status == 200
    assert payme.status == 200  # Payme wants 200 always: here the auth error -32504
    assert (await payme.json())["error"]["code"] == -32504


async def test_no_request_outlives_the_request_timeout(
    database: None, settings: Settings, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    app = create_app(settings.model_copy(update={"request_timeout": 0.3}))

    async def stuck(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="never")

    app.router.add_get("/api/stuck", stuck)
    client = await aiohttp_client(app)

    started = time.monotonic()
    response = await client.get("/api/stuck")

    assert response.status == 503
    assert (await response.json())["error"]["code"] == "timeout"
    assert time.monotonic() - started < 2


async def test_a_session_made_by_one_process_works_on_another(
    settings: Settings, make_client: MakeClient
) -> None:
    """Two app instances stand for two web processes sharing the session store."""
    first, second = await make_client(), await make_client()
    await register(first, "shared")
    cookie = {c.key: c.value for c in first.session.cookie_jar}

    seen = await second.get("/api/user", cookies=cookie)
    assert seen.status == 200
    assert (await seen.json())["data"]["username"] == "shared"

    await first.post("/api/logout", json={"everywhere": True})
    assert (await second.get("/api/user", cookies=cookie)).status == 401


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only"
)
async def test_postgres_connections_cut_are_survived(
    seller_client: TestClient, settings: Settings
) -> None:
    """Every backend of this database ended (as a PostgreSQL restart does): reads retry on
    a fresh connection, and nothing answers 500."""
    created = await seller_client.post(
        "/api/orders", json={"items": [{"name": "Tea", "quantity": 1, "price": 1000}]}
    )
    assert created.status == 201
    order_id = (await created.json())["data"]["id"]

    assert await terminate_connections(settings.database_url) >= 1

    statuses = [(await seller_client.get(f"/api/orders/{order_id}")).status for _ in range(3)]
    assert statuses == [200, 200, 200]

"""Scale-out for real: two `main.py web` processes and two `main.py worker` processes on
PostgreSQL and Redis, driven together.

Runs in the PostgreSQL pass (`DATABASE_URL=postgres://...`); skipped on SQLite, where the
scale-out roles refuse to start (tests/test_roles.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from tests.fakes.telegram import FakeTelegramServer
from tests.scale.cluster import (
    Cluster,
    Process,
    base_env,
    create_database,
    drop_database,
    free_port,
    run_cli,
    terminate_connections,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# One cluster for the module (starting processes is the slow part); the tests run in file
# order and the last ones are destructive (a worker killed, a web process stopped).
pytestmark = [
    pytest.mark.skipif(
        not DATABASE_URL.startswith("postgres"),
        reason="scale-out runs on PostgreSQL: set DATABASE_URL=postgres://...",
    ),
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(180),
]

BOT_TOKEN = "123456:TEST-scale-out-token-0000000000000000"
SECRET = "scale-test-secret"
LOCK_TTL = 2.0


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(chat_rate=100, global_rate=1000) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cluster(
    telegram: FakeTelegramServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Cluster, dict[str, Any]]]:
    database = await create_database(DATABASE_URL)
    prefix = f"scx_scale_{uuid.uuid4().hex[:8]}:"
    web_ports = [free_port(), free_port()]
    env = base_env(
        database_url=database,
        redis_url=_redis_url(),
        redis_prefix=prefix,
        rate_limit_prefix=prefix + "limits",
        secret_key="scale-test-secret-key",
        bot_token=BOT_TOKEN,
        bot_mode="webhook",
        webhook_secret=SECRET,
        telegram_api_url=telegram.base_url,
        public_url=f"http://127.0.0.1:{web_ports[0]}",
        scheduler_lock_ttl=LOCK_TTL,
        request_timeout=10,
        log_format="json",
        log_level="INFO",
    )
    redis = aioredis.Redis.from_url(_redis_url())
    try:
        await asyncio.to_thread(run_cli, env, "migrate")
        async with Cluster(env, tmp_path_factory.mktemp("logs")) as running:
            for port in web_ports:
                await running.start("web", port=port)
            await running.start("worker", port=free_port())
            await running.wait_healthy()
            yield running, {"database": database, "prefix": prefix, "redis": redis}
    finally:
        keys = [k async for k in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await drop_database(database)


def _browser(site: Process) -> aiohttp.ClientSession:
    """A cookie-keeping client (one cookie for 127.0.0.1, whatever the port) that names the
    site's Origin, as a browser on PUBLIC_URL does."""
    jar = aiohttp.CookieJar(unsafe=True)
    return aiohttp.ClientSession(cookie_jar=jar, headers={"Origin": site.url})


def _web(cluster: Cluster) -> list[Process]:
    return [p for p in cluster.processes if p.role == "web"]


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json", await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_sessions_and_orders_are_shared_by_the_web_processes(
    cluster: tuple[Cluster, dict[str, Any]],
) -> None:
    running, _ = cluster
    web1, web2 = _web(running)
    async with _browser(web1) as http:
        # A session made on one process works on the other.
        register = await http.post(
            web1.url + "/api/register", json={"username": "scaler", "password": "long-password"}
        )
        assert register.status == 201, await register.text()
        user = await _json(await http.get(web2.url + "/api/user"))
        assert user["data"]["username"] == "scaler"

        # An order created through one process is visible through the other.
        product = {"name": "Tea", "sku": "TEA-1", "price": 45_000, "stockQuantity": 10}
        created = await _json(await http.post(web2.url + "/api/products", json=product))
        assert "data" in created, created
        order = await http.post(
            web1.url + "/api/orders",
            json={"items": [{"productId": created["data"]["id"], "quantity": 2}]},
        )
        order_id = (await _json(order))["data"]["id"]
        seen = await _json(await http.get(f"{web2.url}/api/orders/{order_id}"))
        assert seen["data"]["totalAmount"] == 90_000

        # Logging out everywhere on one process ends the session on the other.
        await http.post(web2.url + "/api/logout", json={"everywhere": True})
        assert (await http.get(web1.url + "/api/user")).status == 401


async def test_a_webhook_update_delivered_to_both_processes_is_processed_once(
    cluster: tuple[Cluster, dict[str, Any]], telegram: FakeTelegramServer
) -> None:
    running, _ = cluster
    web1, web2 = _web(running)
    # The worker registered the webhook, with the secret, at start-up.
    assert await _until(lambda: _true(telegram.webhook is not None))
    assert telegram.webhook is not None
    assert telegram.webhook["url"] == web1.url + "/telegram/webhook"
    assert telegram.webhook["secret_token"] == SECRET

    # One update delivered to each web process in turn, then to both at once: processed once.
    telegram.push_message(7001, "/start")
    update = dict(telegram.updates[0])
    assert await telegram.deliver_webhook_updates() == [200]
    telegram.webhook["url"] = web2.url + "/telegram/webhook"
    telegram.push_update(update)
    assert await telegram.deliver_webhook_updates() == [200]

    telegram.push_message(7002, "/start")
    second = dict(telegram.updates[0])
    telegram.updates.clear()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession(headers=headers) as http:
        answers = await asyncio.gather(
            *(http.post(w.url + "/telegram/webhook", json=second) for w in (web1, web2))
        )
        statuses = sorted(a.status for a in answers)
    assert statuses in ([200, 200], [200, 503])

    sent = [m.chat_id for m in telegram.sent_messages]
    assert sent.count(7001) == 1
    assert sent.count(7002) == 1


async def _true(value: bool) -> bool:
    return value


async def test_connections_cut_under_load_lose_nothing(
    cluster: tuple[Cluster, dict[str, Any]],
) -> None:
    """PostgreSQL and Redis connections cut (as by a restart) while orders are written through
    both processes: every answer is JSON, every order answered 201 exists, and both processes
    serve again afterwards."""
    running, ctx = cluster
    web1, web2 = _web(running)
    async with _browser(web1) as http:
        await http.post(
            web1.url + "/api/register", json={"username": "loader", "password": "long-password"}
        )
        created: list[int] = []
        refused: list[int] = []

        async def write(i: int) -> None:
            target = (web1, web2)[i % 2]
            body = {"items": [{"name": f"item {i}", "quantity": 1, "price": 1000}]}
            async with http.post(target.url + "/api/orders", json=body) as response:
                payload = await _json(response)
                if response.status == 201:
                    created.append(payload["data"]["id"])
                else:
                    assert response.status == 503, (payload, target.log()[-4000:])
                    refused.append(i)

        async def load() -> None:
            for i in range(0, 60, 3):
                await asyncio.gather(*(write(i + k) for k in range(3)))

        async def chaos() -> None:
            await asyncio.sleep(0.2)
            await terminate_connections(ctx["database"])
            await _kill_redis_clients(ctx["redis"], ctx["prefix"])
            await asyncio.sleep(0.3)
            await terminate_connections(ctx["database"])

        await asyncio.gather(load(), chaos())
        listed = await _json(await http.get(web2.url + "/api/orders?limit=100"))

    assert len(created) + len(refused) == 60
    assert len(created) >= 50
    assert sorted(o["id"] for o in listed["data"]) == sorted(created)


async def _kill_redis_clients(redis: aioredis.Redis, prefix: str) -> int:
    """Drop the Redis connections of this cluster's processes (named after the prefix)."""
    name = prefix.rstrip(":") + "-"
    killed = 0
    for client in await redis.client_list():
        if str(client.get("name", "")).startswith(name):
            await redis.client_kill_filter(_id=client["id"])
            killed += 1
    return killed


async def test_one_worker_runs_the_scheduler_and_another_takes_over_when_it_dies(
    cluster: tuple[Cluster, dict[str, Any]],
) -> None:
    running, ctx = cluster
    redis: aioredis.Redis = ctx["redis"]
    lock_key = ctx["prefix"] + "scheduler:lock"
    first = next(p for p in running.processes if p.role == "worker")

    async def holder_pid() -> int | None:
        value = await redis.get(lock_key)
        return int(value.decode().split(":")[1]) if value else None

    assert await _until(holder_pid) == first.pid

    # A second worker shares the queues but not the scheduler...
    second = await running.start("worker", port=free_port())
    await running.wait_healthy([second])
    assert await _leader_gauge(second) == 0.0
    assert await _leader_gauge(first) == 1.0
    assert await holder_pid() == first.pid

    # ...until the first one dies without a goodbye: its lock expires and the second takes it.
    first.process.kill()
    await first.process.wait()
    assert await _until(lambda: _is(holder_pid, second.pid), timeout=4 * LOCK_TTL)
    assert await _until(lambda: _gauge_is(second, 1.0), timeout=LOCK_TTL)


async def _is(read: Any, expected: int) -> bool:
    return bool(await read() == expected)


async def _gauge_is(proc: Process, expected: float) -> bool:
    return await _leader_gauge(proc) == expected


async def _leader_gauge(proc: Process) -> float:
    async with aiohttp.ClientSession() as http, http.get(proc.url + "/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("scx_scheduler_leader "):
            return float(line.split()[1])
    raise AssertionError("scx_scheduler_leader missing from /metrics")


async def test_logs_are_json_lines_with_request_ids(
    cluster: tuple[Cluster, dict[str, Any]],
) -> None:
    running, _ = cluster
    web1 = _web(running)[0]
    headers = {"X-Request-ID": "req-12345678", "X-Telegram-Bot-Api-Secret-Token": "wrong"}
    async with aiohttp.ClientSession() as http:
        answer = await http.post(web1.url + "/telegram/webhook", json={}, headers=headers)
        assert answer.status == 401
    await running.stop(web1)
    lines = [json.loads(line) for line in web1.log().splitlines() if line.startswith("{")]
    assert lines, web1.log()
    assert all({"event", "timestamp", "level", "logger"} <= set(line) for line in lines)
    rejected = [line for line in lines if "wrong secret" in line["event"]]
    assert [line.get("request_id") for line in rejected] == ["req-12345678"]

"""`/metrics` in Prometheus text: requests by route template, bot updates, queues, jobs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import structlog
from aiogram.types import Message
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core import events, metrics, worker
from core.models import Provider
from tests.botkit import BotKit


async def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_are_counted_by_route_template_not_raw_path(
    seller_client: TestClient,
) -> None:
    before = await scrape(seller_client)
    for order_id in (101, 102, 103):
        await seller_client.get(f"/api/orders/{order_id}")
    await seller_client.get("/no/such/path/123")
    after = await scrape(seller_client)

    route = {"method": "GET", "route": "/api/orders/{id}", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    name = "scx_http_requests_total"
    assert value(after, name, **route) - value(before, name, **route) == 3
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 1
    latency = "scx_http_request_duration_seconds_count"
    assert value(after, latency, route="/api/orders/{id}") >= 3
    assert not any("/api/orders/101" in str(key) for key in after)


async def test_queue_depths_are_read_at_scrape_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def five() -> int:
        return 5

    async def broken() -> int:
        raise ConnectionError("database restarting")

    monkeypatch.setitem(metrics.QUEUES, "test_queue", five)
    monkeypatch.setitem(metrics.QUEUES, "test_broken", broken)
    samples = await scrape(client)

    assert value(samples, "scx_queue_depth", queue="test_queue") == 5
    for queue in ("telegram_updates_in_progress", "notifications_telegram", "notifications_sms"):
        assert ("scx_queue_depth", (("queue", queue),)) in samples


async def test_job_outcomes_are_counted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fine() -> int:
        return 1

    async def failing() -> int:
        raise RuntimeError("bug")

    monkeypatch.setitem(
        worker.SCHEDULED, "test.fine", worker.ScheduledJob("test.fine", fine, "interval", {})
    )
    monkeypatch.setitem(
        worker.SCHEDULED,
        "test.failing",
        worker.ScheduledJob("test.failing", failing, "interval", {}),
    )
    before = await scrape(client)
    await worker._run_job("test.fine")
    await worker._run_job("test.failing")
    after = await scrape(client)

    def delta(job: str, outcome: str) -> float:
        labels = {"job": job, "outcome": outcome}
        return value(after, "scx_job_runs_total", **labels) - value(
            before, "scx_job_runs_total", **labels
        )

    assert (delta("test.fine", "ok"), delta("test.failing", "failed")) == (1, 1)


async def test_payments_are_counted_from_domain_events(client: TestClient) -> None:
    before = await scrape(client)
    payment = SimpleNamespace(provider=Provider.PAYME)
    await metrics._payment_counter("paid")(payment=payment, seller=None, conn=None)
    after = await scrape(client)
    labels = {"provider": "payme", "outcome": "paid"}
    subscribed = events._subscribers[events.PAYMENT_PAID]
    assert any(h.__qualname__.startswith("_payment_counter") for h in subscribed)
    assert (
        value(after, "scx_payments_total", **labels)
        - value(before, "scx_payments_total", **labels)
        == 1
    )


async def test_bot_updates_are_counted_and_logged_with_their_id(client: TestClient) -> None:
    seen: list[object] = []
    kit = BotKit()

    async def spy(message: Message) -> None:
        seen.append(structlog.contextvars.get_contextvars().get("update_id"))

    kit.dispatcher.message.register(spy)  # the dispatcher's own handlers come first
    before = await scrape(client)
    await kit.send("/start", user_id=77)
    await kit.send("hello there", user_id=77)
    after = await scrape(client)

    handled = {"type": "message", "outcome": "handled"}
    assert (
        value(after, "scx_bot_updates_total", **handled)
        - value(before, "scx_bot_updates_total", **handled)
        == 2
    )
    assert seen == [1, 2]
    assert structlog.contextvars.get_contextvars().get("update_id") is None

"""Schemathesis against the served `/api/openapi.json`, as CI runs it.

The real app is served on 127.0.0.1 (a free port) from a thread of its own; schemathesis'
engine runs every phase (examples, coverage, fuzzing, stateful) with every default check, as
a logged-in seller (premium, which has every feature, and an administrator, so that every
operation can succeed), plus a check of our own: no answer ever names a password hash, an
admin flag or a seller id. The run must cover every documented operation and find nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from aiohttp import web
from pydantic import SecretStr
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.engine import events
from schemathesis.engine import from_schema as engine_for

from core import db
from core.models import Seller
from core.settings import Settings
from tests.conftest import _truncate, browser_headers
from web.app import create_app

T = TypeVar("T")
MAX_EXAMPLES = 10
FORBIDDEN_OUT = {"passwordHash", "password_hash", "isAdmin", "is_admin", "sellerId", "seller_id"}


class LiveServer:
    """The app on a real socket, run by an event loop in another thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.context = contextvars.copy_context()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run `coro` on the server's loop, in the context that holds its database."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            task = self.loop.create_task(coro, context=self.context)
            task.add_done_callback(lambda t: _settle(done, t))

        self.loop.call_soon_threadsafe(start)
        return done.result(timeout)

    async def _start(self) -> None:
        await db.init_db(self.settings)
        await _truncate()
        self.runner = web.AppRunner(create_app(self.settings), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        self.context = contextvars.copy_context()

    async def _stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await db.close_db()

    def __enter__(self) -> LiveServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def _settle(done: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        done.set_result(task.result())


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    # The fuzzer is one seller making thousands of requests: the limiter stays on, scaled.
    settings.rate_limit_multiplier = 100
    settings.login_max_failures = 10_000
    settings.login_max_attempts_per_address = 10_000
    settings.registrations_per_address_per_hour = 10_000
    # Channels configured (sends are only queued: no worker delivers them here).
    nowhere = "http://127.0.0.1:9"
    settings.bot_token = SecretStr("123456:fuzz-token")
    settings.telegram_api_url = nowhere
    settings.eskiz_email, settings.eskiz_password = "fuzz@example.com", SecretStr("x")
    settings.eskiz_api_url = nowhere
    settings.whatsapp_token, settings.whatsapp_phone_number_id = SecretStr("x"), "1055"
    settings.whatsapp_api_url = nowhere
    settings.payme_key, settings.click_secret_key = SecretStr("fuzz-payme"), SecretStr("fuzz")
    with LiveServer(settings) as server:
        yield server


def log_in_a_seller(live: LiveServer) -> str:
    """A premium administrator with a product and an order; returns the session cookie.

    Premium has every feature; its daily caps (1,000 WhatsApp messages) keep the fuzzer's
    10,000-message bulk sends cheap: they are refused before anything is queued.
    """
    http = requests.Session()
    http.headers.update(browser_headers(live.settings))
    answer = http.post(
        live.base + "/api/register", json={"username": "fuzzer", "password": "fuzz-password"}
    )
    assert answer.status_code == 201, answer.text

    async def promote() -> None:
        await Seller.filter(username="fuzzer").update(
            plan="premium",
            plan_expires_at=datetime.now(UTC) + timedelta(days=365),
            is_admin=True,
        )

    live.run(promote())
    product = http.post(
        live.base + "/api/products", json={"name": "Box", "sku": "BOX-1", "price": 1000}
    )
    assert product.status_code == 201, product.text
    order = http.post(
        live.base + "/api/orders", json={"items": [{"name": "Box", "quantity": 1, "price": 5}]}
    )
    assert order.status_code == 201, order.text
    return http.cookies["scx_session"]


@dataclass
class Findings:
    operations: set[str] = field(default_factory=set)
    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _leaks(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = set(value) & FORBIDDEN_OUT
        for item in value.values():
            found |= _leaks(item)
        return found
    if isinstance(value, list):
        return set().union(*(_leaks(item) for item in value)) if value else set()
    return set()


@schemathesis.check
def no_private_fields(ctx: Any, response: Any, case: Any) -> bool | None:
    """No answer names a password hash, an admin flag or a seller id."""
    try:
        body = response.json()
    except ValueError:
        return None
    leaked = _leaks(body)
    if leaked:
        raise AssertionError(f"private fields in the answer: {sorted(leaked)}")
    return None


def run_schemathesis(live: LiveServer, cookie: str) -> Findings:
    config = schemathesis.Config.from_dict(
        {
            "seed": 20_240_601,
            "workers": 1,
            "max-failures": 50,
            "request-timeout": 20,
            # The cookie goes only where the document asks for it: register, login and
            # logout are called without it, so they cannot end the fuzzer's session.
            "auth": {"openapi": {"sessionCookie": {"api_key": cookie}}},
            "headers": browser_headers(live.settings),
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {"stateful": {"max-steps": 10}},
            # A body over MAX_BODY_BYTES is refused with 413: a rejection like any other.
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
                }
            },
        }
    )
    schema = schemathesis.openapi.from_url(live.base + "/api/openapi.json", config=config)
    schema.config.base_url = live.base
    findings = Findings()
    for event in engine_for(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(findings, event.recorder)
        elif isinstance(event, events.NonFatalError):
            findings.errors.append(f"{event.label}: {event.info.title} {event.info.message}")
        elif isinstance(event, events.FatalError):
            findings.errors.append(f"fatal: {event.exception!r}")
    return findings


def _record(findings: Findings, recorder: Any) -> None:
    for case_id, node in recorder.cases.items():
        operation = node.value.operation.label
        findings.operations.add(operation)
        interaction = recorder.interactions.get(case_id)
        if interaction is not None and interaction.response is not None:
            findings.examples[operation] += 1
            findings.statuses[interaction.response.status_code] += 1
        for check in recorder.checks.get(case_id, []):
            findings.checks[check.name] += 1
            if check.failure_info is not None:
                failure = check.failure_info.failure
                answer = ""
                if interaction is not None and interaction.response is not None:
                    answer = (interaction.response.content or b"")[:300].decode(errors="replace")
                findings.failures.append(
                    f"{operation} [{check.name}] {failure.title}: {failure.message}\n"
                    f"  reproduce: {check.failure_info.code_sample}\n  answer: {answer}"
                )


def documented_operations(live: LiveServer) -> set[str]:
    doc = requests.get(live.base + "/api/openapi.json", timeout=10).json()
    return {f"{m.upper()} {p}" for p, methods in doc["paths"].items() for m in methods}


def test_schemathesis_finds_nothing(live: LiveServer) -> None:
    cookie = log_in_a_seller(live)
    findings = run_schemathesis(live, cookie)
    documented = documented_operations(live)

    print(  # the figures for the CI log
        f"\nschemathesis: {len(findings.operations)} of {len(documented)} operations, "
        f"{sum(findings.examples.values())} requests, statuses {dict(findings.statuses)}"
    )
    unique = sorted(set(findings.failures))
    assert not findings.errors, findings.errors
    assert not unique, f"{len(unique)} findings:\n" + "\n".join(unique[:40])
    answered = {op for op, count in findings.examples.items() if count}
    assert documented <= answered, sorted(documented - answered)
    assert findings.checks["no_private_fields"] > 0
    assert findings.statuses[500] == 0

"""A fake Eskiz SMS gateway (notify.eskiz.uz) on 127.0.0.1 for tests and benchmarks.

Pointing the eskiz-sms SDK at it (PyPI ``eskiz-sms`` 1.0.1, imported as ``eskiz``; facts
below were read from its source)::

    async with FakeEskizServer(email="dev@example.com", password="secret") as fake:
        client = AsyncEskizSMS(
            email="dev@example.com",
            password="secret",
            base_url=fake.api_url,  # "http://127.0.0.1:PORT/api", the "/api" included
        )
        try:
            result = await client.sms.send(mobile_phone="998901234567", message="Hi")
        finally:
            await client.aclose()

- The SDK does take a base URL: the keyword-only argument ``base_url`` of ``AsyncEskizSMS``
  (and of the sync ``EskizSMS``); default ``https://notify.eskiz.uz/api``. It is an httpx
  ``base_url`` and the SDK's paths are relative ("/auth/login"), so it must end in "/api".
- Other keywords: ``from_whom`` (default "4546", sent as form field ``from``),
  ``callback_url`` (must be https unless ``allow_insecure_callback=True``), ``timeout``
  (10 s), ``token_storage`` (in memory by default), ``enable_token_refresh`` (True),
  ``max_retries`` (0; retries only GET on 5xx or timeouts, never POST, never a 429).
- Auth: the first call logs in with ``POST /auth/login`` (form email, password) and reads
  ``data.token``. Any 401 whose JSON ``status`` is not "token_invalid" makes it call
  ``PATCH /auth/refresh`` with the failed token; if that answers an auth error it logs in
  again, then repeats the request once (a second 401 raises ``TokenInvalid``). A 401 on
  login raises ``InvalidCredentials``. Other non-2xx answers raise ``EskizBadRequest`` with
  ``.status_code`` and ``.message`` (429 and 5xx included, so back off yourself).
- ``client.sms.status(id)`` parses into ``SmsStatusDetail``, which has no ``status`` field:
  the delivery status this fake (and Eskiz) returns is dropped by the SDK model.

Knobs: ``token_lifetime`` (seconds a token is accepted), ``refresh_grace`` (how long after
expiry ``/auth/refresh`` still renews it), ``too_many_requests_rate`` and
``server_error_rate`` (probabilities per non-auth request, drawn from a seeded
``random.Random``), ``latency``, ``balance`` and ``sms_price`` per part, ``delivery_delay``
before status_by_id reports DELIVRD, ``undeliverable`` phones (reported UNDELIV), and
``clock`` (inject a manual clock to move time). Error bodies other than the documented
success shapes are guesses in Eskiz's Laravel style (unverified).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

logger = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^998\d{9}$")
WAITING_TEXT = "Waiting for SMS provider"
MONTH = 30 * 24 * 3600.0
_GSM_RE = re.compile(r"^[\x0a\x0d\x20-\x7e]*$")

Params = dict[str, Any]
Route = Callable[[web.Request, Params], Awaitable[web.Response]]


class EskizFault(Exception):
    """An error answer: HTTP status, JSON body and extra headers."""

    def __init__(self, status: int, body: Params, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def bad_request(message: str) -> EskizFault:
    return EskizFault(400, {"status": "error", "message": message})


def unauthorized(message: str = "Unauthenticated.") -> EskizFault:
    return EskizFault(401, {"message": message})


@dataclass
class RecordedRequest:
    """One HTTP request as the fake received it; token is the Bearer value, if any."""

    method: str
    path: str
    params: Params
    time: float
    token: str | None


@dataclass
class SentSms:
    """One accepted SMS."""

    id: str
    mobile_phone: str
    message: str
    sender: str
    callback_url: str | None
    parts: int
    created: float
    dispatch_id: int | str | None = None
    user_sms_id: str | None = None


def sms_parts(text: str) -> int:
    """GSM-7 texts fit 160 characters (153 per part when split), others 70 (67)."""
    single, multi = (160, 153) if _GSM_RE.match(text) else (70, 67)
    if len(text) <= single:
        return 1
    return math.ceil(len(text) / multi)


async def read_params(request: web.Request) -> Params:
    """Merge the query with a JSON or form body."""
    params: Params = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise bad_request("Malformed JSON body") from None
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    params.update({key: str(value) for key, value in form.items()})
    return params


class FakeEskizServer:
    """Eskiz lookalike under ``/api`` that records requests and injects faults."""

    def __init__(
        self,
        *,
        email: str = "test@example.com",
        password: str = "secret",
        token_lifetime: float = MONTH,
        refresh_grace: float = MONTH,
        too_many_requests_rate: float = 0.0,
        server_error_rate: float = 0.0,
        seed: int = 0,
        latency: float = 0.0,
        balance: int = 100_000,
        sms_price: int = 50,
        delivery_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.email = email
        self.password = password
        self.token_lifetime = token_lifetime
        self.refresh_grace = refresh_grace
        self.too_many_requests_rate = too_many_requests_rate
        self.server_error_rate = server_error_rate
        self.latency = latency
        self.balance = balance
        self.sms_price = sms_price
        self.delivery_delay = delivery_delay
        self.clock = clock
        self.rng = random.Random(seed)

        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.sent_sms: list[SentSms] = []
        self.tokens: dict[str, float] = {}
        self.undeliverable: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._next_id = 4_385_062
        self._next_token = 1

    @property
    def api_url(self) -> str:
        """The base URL clients want: ``{base_url}/api``."""
        return self.base_url + "/api"

    # ----- lifecycle -----

    async def start(self) -> str:
        """Bind 127.0.0.1 on a free port and return the base URL (without /api)."""
        app = web.Application()
        router = app.router
        router.add_post("/api/auth/login", self._open(self._login))
        router.add_patch("/api/auth/refresh", self._open(self._refresh))
        router.add_get("/api/auth/user", self._guarded(self._me))
        router.add_post("/api/message/sms/send", self._guarded(self._send))
        router.add_post("/api/message/sms/send-batch", self._guarded(self._send_batch))
        router.add_get("/api/message/sms/status_by_id/{sms_id}", self._guarded(self._status))
        router.add_get("/api/user/get-limit", self._guarded(self._limit))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, shutdown_timeout=1.0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        logger.debug("fake eskiz listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----- test helpers -----

    def expire_tokens(self) -> None:
        """Make every issued token expired now (still refreshable within the grace)."""
        now = self.clock()
        self.tokens = {token: now for token in self.tokens}

    def revoke_tokens(self) -> None:
        """Forget every issued token: they answer 401 and cannot be refreshed."""
        self.tokens.clear()

    def calls(self, path_suffix: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``path_suffix``."""
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    # ----- HTTP plumbing -----

    def _open(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap an auth endpoint: record, delay, map faults; no token, no injected faults."""

        async def handle(request: web.Request) -> web.Response:
            try:
                params = await self._receive(request)
                return await route(request, params)
            except EskizFault as fault:
                return self._fail(request, fault)

        return handle

    def _guarded(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap an API endpoint: token check, then random 429/5xx faults, then the route."""

        async def handle(request: web.Request) -> web.Response:
            try:
                params = await self._receive(request)
                self._authenticate(request)
                self._maybe_fail()
                return await route(request, params)
            except EskizFault as fault:
                return self._fail(request, fault)

        return handle

    async def _receive(self, request: web.Request) -> Params:
        entry = RecordedRequest(request.method, request.path, {}, self.clock(), _bearer(request))
        self.requests.append(entry)
        entry.params = await read_params(request)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return entry.params

    @staticmethod
    def _fail(request: web.Request, fault: EskizFault) -> web.Response:
        logger.debug("fake eskiz %s %s -> %s", request.method, request.path, fault.status)
        return fault.response()

    def _authenticate(self, request: web.Request) -> str:
        token = _bearer(request)
        if token is None or token not in self.tokens:
            raise unauthorized()
        if self.clock() >= self.tokens[token]:
            raise unauthorized("Expired")
        return token

    def _maybe_fail(self) -> None:
        roll = self.rng.random()
        if roll < self.too_many_requests_rate:
            raise EskizFault(429, {"message": "Too Many Attempts."}, {"Retry-After": "1"})
        if roll < self.too_many_requests_rate + self.server_error_rate:
            raise EskizFault(500, {"message": "Server Error"})

    def _issue_token(self) -> str:
        token = f"fake-eskiz-token-{self._next_token:06d}"
        self._next_token += 1
        self.tokens[token] = self.clock() + self.token_lifetime
        return token

    # ----- auth -----

    async def _login(self, request: web.Request, params: Params) -> web.Response:
        email, password = params.get("email"), params.get("password")
        if not email or not password:
            raise EskizFault(422, {"message": "The email and password fields are required."})
        if email != self.email or password != self.password:
            raise unauthorized("Invalid credentials")
        body = {"message": "token_generated", "data": {"token": self._issue_token()}}
        return web.json_response({**body, "token_type": "bearer"})

    async def _refresh(self, request: web.Request, params: Params) -> web.Response:
        token = _bearer(request)
        if token is None or token not in self.tokens:
            raise unauthorized()
        if self.clock() >= self.tokens[token] + self.refresh_grace:
            raise unauthorized("Token has expired and can no longer be refreshed")
        del self.tokens[token]
        body = {"message": "token_refreshed", "data": {"token": self._issue_token()}}
        return web.json_response({**body, "token_type": "bearer"})

    async def _me(self, request: web.Request, params: Params) -> web.Response:
        user = {
            "id": 1,
            "name": "Fake Seller",
            "email": self.email,
            "role": "user",
            "status": "active",
            "balance": self.balance,
        }
        return web.json_response({"status": "success", "data": user})

    # ----- sms -----

    def _accept(self, phone: Any, text: Any, sender: Any, callback_url: Any) -> SentSms:
        """Validate one SMS, charge the balance and store it."""
        phone, text = str(phone or ""), str(text or "")
        if not PHONE_RE.match(phone):
            raise bad_request(f"Invalid mobile_phone {phone!r}: expected 998 and 9 digits")
        if not text:
            raise bad_request("The message field is required.")
        if not sender:
            raise bad_request("The from field is required.")
        if callback_url and not str(callback_url).startswith(("http://", "https://")):
            raise bad_request("The callback url format is invalid.")
        parts = sms_parts(text)
        if self.balance < parts * self.sms_price:
            raise bad_request("Insufficient balance")
        self.balance -= parts * self.sms_price
        sms = SentSms(
            str(self._next_id), phone, text, str(sender), callback_url, parts, self.clock()
        )
        self._next_id += 1
        self.sent_sms.append(sms)
        return sms

    async def _send(self, request: web.Request, params: Params) -> web.Response:
        sms = self._accept(
            params.get("mobile_phone"),
            params.get("message"),
            params.get("from"),
            params.get("callback_url"),
        )
        return web.json_response({"id": sms.id, "message": WAITING_TEXT, "status": "waiting"})

    async def _send_batch(self, request: web.Request, params: Params) -> web.Response:
        rows = params.get("messages")
        if not isinstance(rows, list) or not rows:
            raise bad_request("The messages field is required.")
        if any(not isinstance(row, dict) for row in rows):
            raise bad_request("Each message must be an object.")
        for row in rows:  # validate every row before charging for any
            if not PHONE_RE.match(str(row.get("to") or "")):
                raise bad_request(f"Invalid to {row.get('to')!r}: expected 998 and 9 digits")
        cost = sum(sms_parts(str(row.get("text") or "")) for row in rows) * self.sms_price
        if cost > self.balance:
            raise bad_request("Insufficient balance")
        dispatch_id = params.get("dispatch_id")
        for row in rows:
            sms = self._accept(
                row.get("to"), row.get("text"), params.get("from"), params.get("callback_url")
            )
            sms.dispatch_id, sms.user_sms_id = dispatch_id, row.get("user_sms_id")
        body = {"id": dispatch_id, "message": WAITING_TEXT, "status": ["waiting"] * len(rows)}
        return web.json_response(body)

    async def _status(self, request: web.Request, params: Params) -> web.Response:
        sms_id = request.match_info["sms_id"]
        sms = next((s for s in self.sent_sms if s.id == sms_id), None)
        if sms is None:
            raise EskizFault(404, {"status": "error", "message": "Not found"})
        return web.json_response({"status": "success", "data": self._status_row(sms)})

    def _status_row(self, sms: SentSms) -> Params:
        if sms.mobile_phone in self.undeliverable:
            status = "UNDELIV"
        elif self.clock() >= sms.created + self.delivery_delay:
            status = "DELIVRD"
        else:
            status = "WAITING"
        return {
            "id": int(sms.id),
            "user_id": 1,
            "to": sms.mobile_phone,
            "message": sms.message,
            "nick": sms.sender,
            "status": status,
            "parts_count": sms.parts,
            "price": sms.parts * self.sms_price,
            "total_price": sms.parts * self.sms_price,
            "dispatch_id": sms.dispatch_id,
            "user_sms_id": sms.user_sms_id,
        }

    async def _limit(self, request: web.Request, params: Params) -> web.Response:
        return web.json_response({"status": "success", "data": {"balance": self.balance}})


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()

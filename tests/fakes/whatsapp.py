"""A fake WhatsApp Business Cloud API (graph.facebook.com) on 127.0.0.1.

Clients post to ``{base_url}/v{N}/{phone_number_id}/messages`` with
``Authorization: Bearer {access_token}``, exactly as against Graph API. Errors use the Graph
shape ``{"error": {"message", "type", "code", "error_data"?, "fbtrace_id"}}``.

Rules, each a knob:
- free-form text only within ``window_seconds`` (24 h) of the recipient's last message,
  recorded with ``mark_customer_message(phone)``; otherwise 131047 (HTTP 400);
- at most ``throughput`` messages per second per phone number id, else 130429 (HTTP 429);
- at most one message per ``pair_period`` seconds to one recipient, else 131056
  (HTTP 400, unverified);
- ``scale`` multiplies both rates (not the 24 h window: move ``clock`` for that); rates
  are read when a number's or a pair's window is first built;
- ``templates`` maps approved template names to language codes (None accepts any),
  otherwise 132001; ``failure_rate`` answers 131000 (HTTP 500) from a seeded RNG.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

from .telegram import SlidingWindow

logger = logging.getLogger(__name__)

MAX_TEXT_BODY = 4096
DAY = 24 * 3600.0
_DIGITS_RE = re.compile(r"^\d{7,15}$")
_COMPONENT_TYPES = frozenset({"header", "body", "button", "footer"})
_PARAMETER_TYPES = frozenset(
    {"text", "currency", "date_time", "image", "document", "video", "payload", "location"}
)
_WINDOW_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)

Body = dict[str, Any]


class GraphError(Exception):
    """A Graph API error answer."""

    def __init__(
        self,
        http_status: int,
        code: int,
        message: str,
        *,
        details: str | None = None,
        error_type: str = "OAuthException",
        subcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.details = details
        self.error_type = error_type
        self.subcode = subcode

    def body(self, trace_id: str) -> Body:
        error: Body = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = trace_id
        return {"error": error}


def invalid_parameter(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details)


@dataclass
class RecordedRequest:
    """One HTTP request as the fake received it; token is the Bearer value, if any."""

    method: str
    path: str
    params: Body
    time: float
    token: str | None


@dataclass
class WhatsAppMessage:
    """One accepted message."""

    id: str
    phone_number_id: str
    to: str
    type: str
    text: str | None
    template: Body | None


@dataclass
class WhatsAppStats:
    """Counters of answers by kind."""

    requests: int = 0
    sent: int = 0
    throttled: int = 0
    pair_limited: int = 0
    window_errors: int = 0
    errors: int = 0


class FakeWhatsAppServer:
    """Cloud API lookalike for ``POST /v{N}/{phone_number_id}/messages``."""

    def __init__(
        self,
        *,
        access_token: str = "test-whatsapp-token",
        phone_number_ids: frozenset[str] | None = None,
        throughput: int = 80,
        pair_period: float = 6.0,
        scale: float = 1.0,
        window_seconds: float = DAY,
        templates: dict[str, set[str]] | None = None,
        failure_rate: float = 0.0,
        seed: int = 0,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_token = access_token
        self.phone_number_ids = phone_number_ids
        self.throughput = throughput
        self.pair_period = pair_period
        self.scale = scale
        self.window_seconds = window_seconds
        self.templates = templates
        self.failure_rate = failure_rate
        self.latency = latency
        self.clock = clock
        self.rng = random.Random(seed)

        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.sent_messages: list[WhatsAppMessage] = []
        self.customer_messages: dict[str, float] = {}
        self.stats = WhatsAppStats()
        self._runner: web.AppRunner | None = None
        self._number_windows: dict[str, SlidingWindow] = {}
        self._pair_windows: dict[tuple[str, str], SlidingWindow] = {}
        self._counter = 0

    # ----- lifecycle -----

    async def start(self) -> str:
        """Bind 127.0.0.1 on a free port and return the base URL (Graph host equivalent)."""
        app = web.Application()
        path = r"/{version:v\d+(?:\.\d+)?}/{phone_number_id}/messages"
        app.router.add_post(path, self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, shutdown_timeout=1.0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        logger.debug("fake whatsapp listening on %s", self.base_url)
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

    def mark_customer_message(self, phone: str, at: float | None = None) -> None:
        """Record that ``phone`` wrote to us at ``at`` (default: now), opening the window."""
        self.customer_messages[phone] = self.clock() if at is None else at

    # ----- HTTP layer -----

    async def _messages(self, request: web.Request) -> web.Response:
        self.stats.requests += 1
        entry = RecordedRequest(request.method, request.path, {}, self.clock(), _bearer(request))
        self.requests.append(entry)
        try:
            entry.params = await _read_json(request)
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            message = self._accept(request, entry.params)
        except GraphError as exc:
            return self._error(exc)
        return web.json_response(self._success(message))

    def _error(self, exc: GraphError) -> web.Response:
        if exc.code == 130429:
            self.stats.throttled += 1
        elif exc.code == 131056:
            self.stats.pair_limited += 1
        elif exc.code == 131047:
            self.stats.window_errors += 1
        else:
            self.stats.errors += 1
        logger.debug("fake whatsapp -> %s code %s", exc.http_status, exc.code)
        self._counter += 1
        trace_id = f"FakeTrace{self._counter:08d}"
        return web.json_response(exc.body(trace_id), status=exc.http_status)

    @staticmethod
    def _success(message: WhatsAppMessage) -> Body:
        sent: Body = {"id": message.id}
        if message.type == "template":
            sent["message_status"] = "accepted"
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": message.to, "wa_id": message.to}],
            "messages": [sent],
        }

    # ----- rules -----

    def _accept(self, request: web.Request, body: Body) -> WhatsAppMessage:
        """Authenticate, validate, apply the window and the limits, then store."""
        if _bearer(request) != self.access_token:
            raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
        phone_number_id = self._phone_number_id(request)
        if self.rng.random() < self.failure_rate:
            raise GraphError(500, 131000, "(#131000) Something went wrong")
        to = _recipient(body)
        kind = body.get("type", "text")
        if kind == "text":
            text = _text_body(body)
            self._check_window(to)
        elif kind == "template":
            text = None
            self._check_template(body.get("template"))
        else:
            raise invalid_parameter(f"Unsupported message type {kind!r} in this fake")
        self._admit(phone_number_id, to)
        return self._store(phone_number_id, to, kind, text, body.get("template"))

    def _phone_number_id(self, request: web.Request) -> str:
        phone_number_id = request.match_info["phone_number_id"]
        if self.phone_number_ids is None or phone_number_id in self.phone_number_ids:
            return phone_number_id
        raise GraphError(
            400,
            100,
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation.",
            error_type="GraphMethodException",
            subcode=33,
        )

    def _check_window(self, to: str) -> None:
        last = self.customer_messages.get(to)
        if last is None or self.clock() - last > self.window_seconds:
            raise GraphError(400, 131047, "Re-engagement message", details=_WINDOW_DETAILS)

    def _check_template(self, template: Any) -> None:
        if not isinstance(template, dict) or not template.get("name"):
            raise invalid_parameter("Parameter 'template' requires a 'name'")
        language = template.get("language")
        if not isinstance(language, dict) or not language.get("code"):
            raise invalid_parameter("Parameter 'template' requires 'language.code'")
        _check_components(template.get("components", []))
        name, code = template["name"], language["code"]
        if self.templates is not None and code not in self.templates.get(name, set()):
            raise GraphError(
                400,
                132001,
                "(#132001) Template name does not exist in the translation",
                details=f"template name ({name}) does not exist in {code}",
            )

    def _admit(self, phone_number_id: str, to: str) -> None:
        now = self.clock()
        number = self._number_windows.setdefault(
            phone_number_id, SlidingWindow(self.throughput, 1.0 / self.scale)
        )
        pair = self._pair_windows.setdefault(
            (phone_number_id, to), SlidingWindow(1, self.pair_period / self.scale)
        )
        if number.wait_time(now) > 0:
            raise GraphError(
                429,
                130429,
                "(#130429) Rate limit hit",
                details="Cloud API message throughput has been reached.",
            )
        if pair.wait_time(now) > 0:
            raise GraphError(
                400,
                131056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                details="Too many messages sent from the sender phone number to the same "
                "recipient phone number in a short period of time.",
            )
        number.add(now)
        pair.add(now)

    def _store(
        self, phone_number_id: str, to: str, kind: str, text: str | None, template: Any
    ) -> WhatsAppMessage:
        self._counter += 1
        message = WhatsAppMessage(
            id=f"wamid.FAKE{self._counter:012d}",
            phone_number_id=phone_number_id,
            to=to,
            type=kind,
            text=text,
            template=template if kind == "template" else None,
        )
        self.sent_messages.append(message)
        self.stats.sent += 1
        return message


def _recipient(body: Body) -> str:
    if body.get("messaging_product") != "whatsapp":
        raise invalid_parameter("The parameter messaging_product is required.")
    to = str(body.get("to") or "")
    if not _DIGITS_RE.match(to):
        raise invalid_parameter(f"Invalid 'to' {to!r}: expected the number as digits")
    return to


def _text_body(body: Body) -> str:
    text = body.get("text")
    if not isinstance(text, dict) or not isinstance(text.get("body"), str):
        raise invalid_parameter("The parameter text['body'] is required.")
    if not text["body"]:
        raise invalid_parameter("Param text['body'] must not be empty.")
    if len(text["body"]) > MAX_TEXT_BODY:
        raise invalid_parameter(f"Param text['body'] must be at most {MAX_TEXT_BODY} characters")
    return str(text["body"])


def _check_components(components: Any) -> None:
    if not isinstance(components, list):
        raise invalid_parameter("Parameter 'components' must be a list")
    for component in components:
        if not isinstance(component, dict) or component.get("type") not in _COMPONENT_TYPES:
            raise invalid_parameter("Each component needs a type: header, body, button")
        for parameter in component.get("parameters", []):
            _check_parameter(parameter)


def _check_parameter(parameter: Any) -> None:
    if not isinstance(parameter, dict) or parameter.get("type") not in _PARAMETER_TYPES:
        raise invalid_parameter("Each template parameter needs a known type")
    if parameter["type"] == "text" and not isinstance(parameter.get("text"), str):
        raise invalid_parameter("A text parameter needs 'text'")


async def _read_json(request: web.Request) -> Body:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise invalid_parameter("The request body must be JSON") from None
    if not isinstance(body, dict):
        raise invalid_parameter("The request body must be a JSON object")
    return body


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None

"""Middlewares every request passes: request id and logging, the error envelope, headers."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestPayloadError
from pydantic.alias_generators import to_camel

from core import metrics
from core.availability import is_outage
from core.errors import AppError, ServiceUnavailable, TooManyRequests
from web.responses import error

log = logging.getLogger(__name__)

REQUEST_ID = web.RequestKey("scx.request_id", str)
# Seconds a client should wait before retrying after a 503 (a dependency restarting).
OUTAGE_RETRY_AFTER = "5"

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def app_error_response(exc: AppError) -> web.Response:
    # The answer is the API's: camelCase like every body (the core names things in Python).
    details = {to_camel(k): v for k, v in exc.details.items() if k != "field"}
    response = error(exc.status, exc.code, exc.message, exc.details.get("field"), **details)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, ServiceUnavailable):
        response.headers["Retry-After"] = OUTAGE_RETRY_AFTER
    return response


def http_error_response(exc: web.HTTPException) -> web.Response:
    status = exc.status
    code = _HTTP_CODES.get(status, "http_error")
    message = exc.reason or code.replace("_", " ")
    if status == 413:
        message = "the request body is too large"
    response = error(status, code, message)
    if status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def _route(request: web.Request) -> str:
    """The route template, a bounded metrics label: unmatched paths share one value."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# Request ids: this process's random prefix and a counter. Unique across processes and
# restarts, and no system call per request (they are labels, not secrets).
_REQUEST_PREFIX = secrets.token_hex(4)
_request_counter = itertools.count(1)


def _next_request_id() -> str:
    return f"{_REQUEST_PREFIX}{next(_request_counter):08x}"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id (or keep the proxy's), put it on every log line of the
    request, count and time the request, and log one line when it ends."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isprintable() else ""
    request_id = request_id or _next_request_id()
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await handler(request)
        status = response.status
        response.headers["X-Request-ID"] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = _route(request)
        metrics.HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route).observe(elapsed)
        log.debug(
            "request method=%s path=%s status=%s ms=%.1f id=%s",
            request.method,
            request.path,
            status,
            elapsed * 1000,
            request_id,
        )


def deadline(seconds: float) -> Middleware:
    """No request runs longer than `seconds` (REQUEST_TIMEOUT): it is cancelled and
    `error_envelope` answers 503 `timeout`, so a stuck dependency never holds a client."""

    @web.middleware
    async def bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
        async with asyncio.timeout(seconds):
            return await handler(request)

    return bounded


@web.middleware
async def error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as the JSON envelope, never as HTML or a traceback."""
    try:
        response = await handler(request)
    except AppError as exc:
        if exc.status >= 500:
            log.error("request failed code=%s path=%s", exc.code, request.path)
        return app_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error_response(exc)
    except (HttpProcessingError, RequestPayloadError) as exc:
        # Raised while reading the body: a Content-Encoding that does not decode, a bad chunk.
        log.info("request body unreadable path=%s error=%s", request.path, type(exc).__name__)
        return error(400, "validation_error", "the request body could not be read", "body")
    except TimeoutError:
        log.warning("request timed out path=%s", request.path)
        return error(503, "timeout", "the request took too long, try again")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if is_outage(exc):
            return outage_response(exc, request.path)
        log.exception("unhandled error path=%s", request.path)
        return error(500, "internal_error", "internal server error")
    return response


def outage_response(exc: BaseException, path: str) -> web.Response:
    """503 for a dependency that is down (PostgreSQL or Redis): retry later, nothing lost."""
    log.warning("dependency unavailable path=%s error=%s", path, type(exc).__name__)
    metrics.OUTAGES.labels("http").inc()
    return app_error_response(
        ServiceUnavailable("a service this request needs is unavailable, try again shortly")
    )


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", API_CSP)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")

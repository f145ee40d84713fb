"""Answers aiohttp gives before the app sees a request, in the app's JSON envelope.

A request that cannot be parsed (a malformed header, both Content-Length and
Transfer-Encoding, an unknown Content-Encoding, a header too long) never reaches a route or a
middleware: aiohttp's protocol handler answers it itself, as plain text naming the server
version and echoing the input. `install()` replaces that answer with the envelope every other
failure gets, without the input and under our own Server header.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web, web_protocol

from web.responses import error

_CODES = {
    400: ("bad_request", "the request could not be parsed"),
    413: ("payload_too_large", "the request is too large"),
    414: ("uri_too_long", "the request line is too long"),
    431: ("headers_too_large", "the request headers are too large"),
    500: ("internal_error", "internal server error"),
    501: ("not_implemented", "this method or encoding is not supported"),
    503: ("service_unavailable", "the server is busy, try again shortly"),
    504: ("timeout", "the request took too long, try again"),
}
_original = web_protocol.RequestHandler.handle_error


def _json_error(
    self: web_protocol.RequestHandler,
    request: Any,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    _original(self, request, status, exc, message)  # logs; raises when a response is under way
    code, text = _CODES.get(status, ("bad_request" if status < 500 else "internal_error", ""))
    response = error(status, code, text or code.replace("_", " "))
    response.headers.update({"Server": "SellerCloudX", "X-Content-Type-Options": "nosniff"})
    response.force_close()
    return response


def install() -> None:
    """Idempotent: every aiohttp server in this process answers parse errors in JSON."""
    web_protocol.RequestHandler.handle_error = _json_error  # type: ignore[method-assign]

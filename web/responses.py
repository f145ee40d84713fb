"""The JSON envelope of every answer: `{"success": true, ...}` or the error form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic_core import to_json

from core.schemas import Pagination


def json_response(payload: dict[str, Any], status: int = 200, **kwargs: Any) -> web.Response:
    """`payload` as compact UTF-8 JSON; pydantic models in it are written by their aliases.

    pydantic-core writes the models straight to bytes, a few times faster than dumping them
    to dicts for `json.dumps` (the same bytes for the same data).
    """
    body = to_json(payload, by_alias=True)
    return web.Response(
        body=body, status=status, content_type="application/json", charset="utf-8", **kwargs
    )


def ok(data: Any = None, status: int = 200, **extra: Any) -> web.Response:
    payload: dict[str, Any] = {"success": True}
    if data is not None:
        payload["data"] = data
    payload.update(extra)
    return json_response(payload, status)


def page(items: Sequence[BaseModel | dict[str, Any]], pagination: Pagination) -> web.Response:
    """A page: models, or rows already named as JSON writes them."""
    return ok(list(items), pagination=pagination)


def error_payload(
    code: str, message: str, field: str | None = None, **details: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    if details:
        error["details"] = details
    return {"success": False, "error": error}


def error(
    status: int, code: str, message: str, field: str | None = None, **details: Any
) -> web.Response:
    return json_response(error_payload(code, message, field, **details), status)

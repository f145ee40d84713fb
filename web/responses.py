"""The JSON envelope of every answer: `{"success": true, ...}` or the error form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from core.schemas import Pagination


def dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    return value


def json_response(payload: dict[str, Any], status: int = 200, **kwargs: Any) -> web.Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return web.Response(
        text=body, status=status, content_type="application/json", charset="utf-8", **kwargs
    )


def ok(data: Any = None, status: int = 200, **extra: Any) -> web.Response:
    payload: dict[str, Any] = {"success": True}
    if data is not None:
        payload["data"] = dump(data)
    payload.update({key: dump(value) for key, value in extra.items()})
    return json_response(payload, status)


def page(items: Sequence[BaseModel], pagination: Pagination) -> web.Response:
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

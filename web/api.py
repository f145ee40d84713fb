"""Typed routes: one declaration feeds request validation and the OpenAPI document.

    api = Api()

    @api.post("/api/products", body=ProductIn, response=ProductOut, status=201, tag="products")
    async def create_product(request: web.Request, body: ProductIn) -> web.Response: ...

The wrapper parses the JSON body and the query string into the declared pydantic models and
answers 400 naming the first offending field; path parameters are read by the handler.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import ValidationFailed

Handler = Callable[..., Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
_PATH_PATTERN = re.compile(r"\{(\w+)(:[^}]+)?\}")


@dataclass(slots=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    status: int = 200
    auth: bool = True
    form: bool = False
    raw_response: bool = False
    extra_responses: dict[int, str] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        return _PATH_PATTERN.sub(r"{\1}", self.path)

    @property
    def path_params(self) -> list[tuple[str, bool]]:
        """(name, is_integer) of each path parameter."""
        return [
            (m.group(1), bool(m.group(2) and "\\d" in m.group(2)))
            for m in _PATH_PATTERN.finditer(self.path)
        ]


def field_name(error: Mapping[str, Any]) -> str:
    """`items[0].productId` from a pydantic error location."""
    name = ""
    for part in error.get("loc", ()):
        if isinstance(part, int):
            name += f"[{part}]"
        elif part in {"function-after", "tagged-union"} or "[" in str(part):
            continue
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def validation_failed(exc: ValidationError, default: str = "body") -> ValidationFailed:
    first = exc.errors(include_url=False)[0]
    return ValidationFailed(field_name(first) or default, first.get("msg", "invalid value"))


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ValidationFailed("body", "a JSON body is required")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationFailed("body", "the body is not valid JSON") from None


def parse_model(model: type[M], data: Any, default: str = "body") -> M:
    if not isinstance(data, dict):
        raise ValidationFailed(default, "expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc, default) from None


class Api:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = options.pop("summary", None) or (handler.__doc__ or "").strip()
            operation = Operation(method, path, handler, summary, **options)
            self.operations.append(operation)
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)

    def register(self, app: web.Application) -> None:
        for operation in self.operations:
            app.router.add_route(operation.method, operation.path, _wrap(operation))


def _wrap(operation: Operation) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if operation.body is not None:
            if operation.form:
                data = dict(await request.post())
            else:
                data = await read_json(request)
            kwargs["body"] = parse_model(operation.body, data)
        if operation.query is not None:
            kwargs["query"] = parse_model(operation.query, dict(request.query), "query")
        return await operation.handler(request, **kwargs)

    handler.__name__ = operation.handler.__name__
    return handler

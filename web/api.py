"""Typed routes: one declaration feeds request validation and the OpenAPI document.

    api = Api()

    @api.post("/api/products", body=ProductIn, response=ProductOut, status=201, tag="products")
    async def create_product(request: web.Request, body: ProductIn) -> web.Response: ...

The wrapper parses the JSON body and the query string into the declared pydantic models and
answers 400 naming the first offending field; path parameters are read by the handler.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from core.errors import ValidationFailed
from core.schemas import UNION_TAGS
from web.auth import current_seller, require_admin

Handler = Callable[..., Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
_PATH_PATTERN = re.compile(r"\{(\w+)(:[^}]+)?\}")
MAX_PAGE_SIZE = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Steps of a pydantic error location that are not fields: validator kinds and union tags.
_NOT_FIELDS = frozenset({"function-after", "tagged-union", *UNION_TAGS})


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
    admin: bool = False
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
        elif part in _NOT_FIELDS or "[" in str(part):
            continue
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def validation_failed(exc: ValidationError, default: str = "body") -> ValidationFailed:
    first = exc.errors(include_url=False)[0]
    return ValidationFailed(field_name(first) or default, first.get("msg", "invalid value"))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> float | int:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    # JSON Schema counts 3.0 as an integer, and so does this API.
    if value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def parse_json(raw: bytes | str) -> Any:
    """JSON as the documents describe it: finite numbers, no NaN, `3.0` read as `3`."""
    try:
        return json.loads(raw, parse_float=_number, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad syntax, NaN, numbers out of range and integers
        # past Python's digit limit; RecursionError a body nested deeper than the parser.
        raise ValidationFailed("body", "the body is not valid JSON") from None


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ValidationFailed("body", "a JSON body is required")
    return parse_json(raw)


def _require_media_type(request: web.Request, form: bool) -> None:
    """A body of the declared kind: a cross-site text/plain or form post is refused (415)."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return  # not a browser; the body is parsed as declared
    kind = request.content_type
    is_json = kind == "application/json" or kind.endswith("+json")
    if not (kind in FORM_TYPES if form else is_json):
        raise web.HTTPUnsupportedMediaType()


def _check_page_size(query: BaseModel) -> None:
    limit = getattr(query, "limit", None)
    if isinstance(limit, int) and limit > MAX_PAGE_SIZE:
        raise ValidationFailed("limit", f"at most {MAX_PAGE_SIZE} items per page")


def parse_model(model: type[M], data: Any, default: str = "body", *, strict: bool = False) -> M:
    """`data` as `model`; `strict` for JSON bodies: a JSON value of the documented type only.

    Lax parsing suits query strings and forms, where everything arrives as text. A JSON body
    is held to its schema: `false` is not a number, `0` is not a date, `"1"` is not a boolean.
    """
    if not isinstance(data, dict):
        raise ValidationFailed(default, "expected a JSON object")
    _refuse_nul(data, "")
    try:
        # Clients write the documented (camelCase) names only: Python's names are not the API.
        if strict:
            parsed = model.model_validate_json(
                json.dumps(data), strict=True, by_alias=True, by_name=False
            )
        else:
            parsed = model.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise validation_failed(exc, default) from None
    _check_int64(parsed)
    return parsed


def _refuse_nul(value: Any, where: str) -> None:
    """No text may hold a NUL character: PostgreSQL cannot store one, and no person types it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed(where or "body", "text must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{where}[{index}]")


def _check_int64(value: Any, where: str = "") -> None:
    """Every integer field fits the 64 bits a database column holds (as the document says);
    free-form objects (`dict`) are stored as JSON and keep any number."""
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            label = info.alias or name
            _check_int64(getattr(value, name), f"{where}.{label}" if where else label)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_int64(item, f"{where}[{index}]")
    elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise ValidationFailed(where or "body", "number out of range")


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
            handler = _wrap(operation)
            if operation.method == "GET":
                # HEAD answers what GET would, without the body (aiohttp drops it).
                app.router.add_get(operation.path, handler, allow_head=True)
            else:
                app.router.add_route(operation.method, operation.path, handler)


def _wrap(operation: Operation) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        # Who asks comes first: a stranger learns nothing from how the body is judged.
        if operation.admin:
            await require_admin(request)
        elif operation.auth:
            await current_seller(request)
        kwargs: dict[str, Any] = {}
        if operation.body is not None:
            _require_media_type(request, operation.form)
            if operation.form:
                data = dict(await request.post())
            else:
                data = await read_json(request)
            kwargs["body"] = parse_model(operation.body, data, strict=not operation.form)
        if operation.query is not None:
            kwargs["query"] = parse_model(operation.query, dict(request.query), "query")
            _check_page_size(kwargs["query"])
        return await operation.handler(request, **kwargs)

    handler.__name__ = operation.handler.__name__
    return handler

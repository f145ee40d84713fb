"""OpenAPI 3.1, generated from the same pydantic models that validate requests."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from core.schemas import Pagination
from web.api import Operation
from web.security import is_limited

REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    400: "Invalid input: `error.field` names the offending field",
    401: "Not logged in",
    403: "Forbidden (plan, origin or permission)",
    404: "Not found (or another seller's object)",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "The body is not of the documented media type",
    429: "Rate limited: see Retry-After",
    503: "A backing service is unavailable",
}
# What the JSON parser accepts (web.api.parse_json): every integer fits in 64 bits.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Path ids beyond this are not looked up (web.auth.int_param).
MAX_PATH_ID = 10**18 - 1
RATE_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed per window of the seller's plan (none: unlimited)",
    "X-RateLimit-Remaining": "Requests left in the current window",
    "X-RateLimit-Reset": "Seconds until the oldest counted request leaves the window",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "details": {"type": "object"},
            },
        },
    },
}


def _model_schemas(operations: list[Operation]) -> tuple[dict[Any, Any], dict[str, Any]]:
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Pagination, "serialization")]
    for op in operations:
        if op.body is not None:
            pairs.append((op.body, "validation"))
        if op.response is not None:
            pairs.append((op.response, "serialization"))
    unique = list(dict.fromkeys(pairs))
    refs, top = models_json_schema(unique, by_alias=True, ref_template=REF)
    return refs, top.get("$defs", {})


def _success_schema(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {"success": {"const": True}}
    required = ["success"]
    if op.response is not None:
        item = refs[(op.response, "serialization")]
        properties["data"] = {"type": "array", "items": item} if op.many else item
        required.append("data")
        if op.many:
            properties["pagination"] = refs[(Pagination, "serialization")]
            required.append("pagination")
    return {"type": "object", "required": required, "properties": properties}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or text, never null: drop the null branch of `X | None`."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if "anyOf" not in schema or len(branches) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if rest.get("default", 0) is None:
        del rest["default"]
    return {**branches[0], **rest}


def _parameters(op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name, numeric in op.path_params:
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 1, "maximum": MAX_PATH_ID}
            if numeric or name == "id"
            else {"type": "string"}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        schema = op.query.model_json_schema(by_alias=True, ref_template=REF)
        components.update(schema.pop("$defs", {}))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "schema": _not_null(prop),
                }
            )
    return params


def _headers(op: Operation, status: int) -> dict[str, Any]:
    """The rate-limit headers of a limited route (absent for unlimited plans)."""
    if not is_limited(op.path):
        return {}
    headers: dict[str, Any] = {
        name: {"description": text, "schema": {"type": "integer", "minimum": 0}}
        for name, text in RATE_HEADERS.items()
    }
    if status == 429:
        headers["Retry-After"] = {
            "description": "Seconds to wait before the next request is counted",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    return {"headers": headers}


def _bound_integers(node: Any) -> None:
    """Every integer the API reads or writes is a 64-bit one: say so where nothing tighter is."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", INT64_MIN)
            node.setdefault("maximum", INT64_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


# Any JSON value whose texts hold no NUL: what a free-form object (`data`) may contain.
JSON_VALUE = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": REF.format(model="JsonValue")}},
        {"type": "object", "additionalProperties": {"$ref": REF.format(model="JsonValue")}},
    ]
}


def _no_nul_text(node: Any) -> None:
    """Say in the document what `web.api` enforces: no text holds a NUL character."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not node.keys() & {"format", "enum", "const"}:
            if "pattern" in node:
                node.setdefault("not", {"pattern": "\u0000"})
            else:
                node["pattern"] = "^[^\u0000]*$"
        free_form = node.get("type") == "object" and "properties" not in node
        if free_form and node.get("additionalProperties", True) is True:
            node["additionalProperties"] = {"$ref": REF.format(model="JsonValue")}
        for value in list(node.values()):
            _no_nul_text(value)
    elif isinstance(node, list):
        for value in node:
            _no_nul_text(value)


def _operation(op: Operation, refs: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "Success",
            **_headers(op, op.status),
            "content": {"application/json": {"schema": _success_schema(op, refs)}},
        }
    }
    errors = {**ERROR_STATUSES, **op.extra_responses}
    for status, description in sorted(errors.items()):
        responses[str(status)] = {
            "description": description,
            **_headers(op, status),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
        }
    spec: dict[str, Any] = {
        "operationId": op.handler.__name__,
        "summary": op.summary.splitlines()[0] if op.summary else op.handler.__name__,
        "tags": [op.tag] if op.tag else [],
        "parameters": _parameters(op, components),
        "responses": responses,
    }
    if op.auth:
        spec["security"] = [{"sessionCookie": []}]
    if op.body is not None:
        media = "application/x-www-form-urlencoded" if op.form else "application/json"
        spec["requestBody"] = {
            "required": True,
            "content": {media: {"schema": refs[(op.body, "validation")]}},
        }
    return spec


def build(operations: list[Operation], *, title: str, version: str, cookie: str) -> dict[str, Any]:
    """The whole document for the given operations."""
    documented = [op for op in operations if not op.raw_response]
    refs, components = _model_schemas(documented)
    components["Error"] = ERROR_SCHEMA
    components["JsonValue"] = copy.deepcopy(JSON_VALUE)
    paths: dict[str, dict[str, Any]] = {}
    for op in documented:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op, refs, components)
    _bound_integers(paths)
    _bound_integers(components)
    _no_nul_text(paths)
    _no_nul_text(components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "SellerCloudX REST API: the same features as the Telegram bot.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": cookie}
            },
        },
    }

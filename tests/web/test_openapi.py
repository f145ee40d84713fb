"""The served OpenAPI 3.1 document: every route, and the same schemas that validate requests."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel

from core.schemas import OrderIn, OrderStatusIn, ProductIn, ProductQuery, ProductUpdate
from web.app import ROUTE_MODULES

# Served by the app but not part of the API description itself.
UNDOCUMENTED = {"/api/openapi.json", "/api/docs", "/api/docs/init.js"}


async def fetch_spec(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    spec = await response.json()
    assert isinstance(spec, dict)
    return spec


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    resolved = spec["components"]["schemas"][name]
    assert isinstance(resolved, dict)
    return resolved


def request_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = spec["paths"][path][method]["requestBody"]
    return resolve(spec, body["content"]["application/json"]["schema"])


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every `/api/` route the router serves."""
    raw = {
        (op.method, op.openapi_path)
        for module in ROUTE_MODULES
        for op in module.operations
        if op.raw_response
    }
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or ""
        if route.method == "HEAD" or not path.startswith("/api/") or path in UNDOCUMENTED:
            continue
        if (route.method, path) not in raw:
            routes.add((route.method, path))
    return routes


async def test_document_is_openapi_3_1(client: TestClient) -> None:
    spec = await fetch_spec(client)
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["components"]["securitySchemes"]["sessionCookie"]["in"] == "cookie"


async def test_every_api_route_is_documented(client: TestClient) -> None:
    spec = await fetch_spec(client)
    documented = {
        (method.upper(), path) for path, item in spec["paths"].items() for method in item
    }
    served = api_routes(client.app)
    assert served - documented == set()
    assert documented - served == set()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/products"),
        ("get", "/api/products"),
        ("get", "/api/products/{id}"),
        ("put", "/api/products/{id}"),
        ("delete", "/api/products/{id}"),
        ("post", "/api/orders"),
        ("get", "/api/orders"),
        ("get", "/api/orders/{id}"),
        ("put", "/api/orders/{id}/status"),
    ],
)
async def test_issue_routes_are_documented_with_errors(
    client: TestClient, method: str, path: str
) -> None:
    spec = await fetch_spec(client)
    operation = spec["paths"][path][method]
    assert operation["operationId"]
    assert operation["summary"]
    assert operation["security"] == [{"sessionCookie": []}]
    for status in ("400", "401", "404"):
        error = operation["responses"][status]["content"]["application/json"]["schema"]
        assert resolve(spec, error)["properties"]["success"] == {"const": False}
    if "{id}" in path:
        assert operation["parameters"][0] == {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
        }


@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("post", "/api/products", ProductIn),
        ("put", "/api/products/{id}", ProductUpdate),
        ("post", "/api/orders", OrderIn),
        ("put", "/api/orders/{id}/status", OrderStatusIn),
    ],
)
async def test_request_schemas_are_the_validating_models(
    client: TestClient, method: str, path: str, model: type[BaseModel]
) -> None:
    spec = await fetch_spec(client)
    schema = request_schema(spec, path, method)
    expected = model.model_json_schema(by_alias=True)

    assert schema["properties"].keys() == expected["properties"].keys()
    assert sorted(schema.get("required", [])) == sorted(expected.get("required", []))
    assert schema["additionalProperties"] is False


async def test_product_fields_are_camel_case(client: TestClient) -> None:
    spec = await fetch_spec(client)
    product_in = request_schema(spec, "/api/products", "post")
    create = spec["paths"]["/api/products"]["post"]["responses"]["201"]
    product_out = resolve(
        spec, create["content"]["application/json"]["schema"]["properties"]["data"]
    )

    assert set(product_in["properties"]) == {
        "name",
        "sku",
        "price",
        "stockQuantity",
        "category",
        "description",
        "photos",
    }
    assert sorted(product_in["required"]) == ["name", "price", "sku"]
    assert product_in["properties"]["price"]["minimum"] == 0
    assert {"stockQuantity", "createdAt", "updatedAt"} <= set(product_out["properties"])


async def test_order_schema_names_both_kinds_of_line(client: TestClient) -> None:
    spec = await fetch_spec(client)
    order_in = request_schema(spec, "/api/orders", "post")
    lines = order_in["properties"]["items"]["items"]
    members = [resolve(spec, m) for m in lines.get("oneOf") or lines["anyOf"]]

    assert {"totalAmount", "customerPhone", "items"} <= set(order_in["properties"])
    assert [sorted(m["required"]) for m in members] == [
        ["productId", "quantity"],
        ["name", "price", "quantity"],
    ]


async def test_list_query_parameters_come_from_the_query_model(client: TestClient) -> None:
    spec = await fetch_spec(client)
    params = {p["name"]: p for p in spec["paths"]["/api/products"]["get"]["parameters"]}
    expected = ProductQuery.model_json_schema(by_alias=True)["properties"]

    assert set(params) == set(expected) == {"page", "limit", "search", "category"}
    assert params["limit"]["schema"]["maximum"] == 100
    assert all(p["in"] == "query" for p in params.values())


async def test_list_answers_document_pagination(client: TestClient) -> None:
    spec = await fetch_spec(client)
    ok = spec["paths"]["/api/products"]["get"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]
    pagination = resolve(spec, schema["properties"]["pagination"])
    assert schema["properties"]["data"]["type"] == "array"
    assert set(pagination["properties"]) == {"page", "limit", "total", "pages"}


async def test_docs_page_is_html_pointing_at_the_document(client: TestClient) -> None:
    page = await client.get("/api/docs")
    script = await client.get("/api/docs/init.js")

    assert page.status == 200
    assert page.content_type == "text/html"
    assert "<html" in await page.text()
    assert script.status == 200
    assert "/api/openapi.json" in await script.text()

"""Every failure leaves as the JSON envelope: bad bodies, sizes, routes, methods and crashes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.errors import AppError
from core.settings import Settings
from web.app import create_app

AiohttpClient = Callable[..., Awaitable[TestClient]]
PRODUCT = {"name": "Tea", "sku": "TEA-1", "price": 45_000}


def assert_envelope(body: dict[str, Any], code: str) -> None:
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def json_of(response: Any) -> dict[str, Any]:
    assert response.content_type == "application/json", await response.text()
    body = await response.json()
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b"", "body"),
        (b"\xff\xfe", "body"),
        (b"[]", "body"),
        (b'[{"name": "Tea"}]', "body"),
        (b'"a string"', "body"),
        (b"null", "body"),
        (b'{"name": "Tea", "sku": "T", "price": "lots"}', "price"),
        (b'{"name": ["Tea"], "sku": "T", "price": 1}', "name"),
        (b'{"name": "Tea", "sku": "T", "price": 1, "colour": "red"}', "colour"),
        (b'{"name": "Tea", "sku": "T", "price": 1, "stock_quantity": 1, "x": 1}', "x"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    seller_client: TestClient, raw: bytes, field: str
) -> None:
    response = await seller_client.post(
        "/api/products", data=raw, headers={"Content-Type": "application/json"}
    )
    body = await json_of(response)
    assert response.status == 400
    assert_envelope(body, "validation_error")
    assert body["error"]["field"] == field


async def test_oversized_body_is_413_json(seller_client: TestClient, settings: Settings) -> None:
    huge = {**PRODUCT, "description": "x" * (settings.max_body_bytes + 10)}
    response = await seller_client.post("/api/products", json=huge)
    body = await json_of(response)
    assert response.status == 413
    assert_envelope(body, "payload_too_large")


async def test_oversized_chunked_body_is_413_json(
    seller_client: TestClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        block = b" " * 65_536
        for _ in range(settings.max_body_bytes // len(block) + 2):
            yield block

    response = await seller_client.post(
        "/api/products", data=chunks(), headers={"Content-Type": "application/json"}
    )
    body = await json_of(response)
    assert response.status == 413
    assert_envelope(body, "payload_too_large")


@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/api/products/1/nope", "/api"])
async def test_unknown_route_is_404_json(client: TestClient, path: str) -> None:
    response = await client.get(path)
    body = await json_of(response)
    assert response.status == 404
    assert_envelope(body, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/products", {"GET", "POST"}),
        ("POST", "/api/products/1", {"GET", "PUT", "DELETE"}),
        ("DELETE", "/api/orders", {"GET", "POST"}),
        ("GET", "/api/orders/1/status", {"PUT"}),
    ],
)
async def test_wrong_method_is_405_json_with_allow(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path)
    body = await json_of(response)
    assert response.status == 405
    assert_envelope(body, "method_not_allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} - {"HEAD"} == allowed


async def test_unauthenticated_is_401_json(client: TestClient) -> None:
    response = await client.post("/api/products", json=PRODUCT)
    body = await json_of(response)
    assert response.status == 401
    assert_envelope(body, "not_authenticated")


class _Teapot(AppError):
    code = "teapot"
    status = 418


@pytest.fixture
async def crashing_client(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> TestClient:
    """The real app with test-only routes that fail in different ways."""

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail /etc/passwd")

    async def forbidden(request: web.Request) -> web.Response:
        raise web.HTTPForbidden(text="<html>forbidden</html>", content_type="text/html")

    async def app_error(request: web.Request) -> web.Response:
        raise _Teapot("short and stout", spout=True)

    app = create_app(settings)
    app.router.add_get("/api/test/crash", crash)
    app.router.add_get("/api/test/forbidden", forbidden)
    app.router.add_get("/api/test/app-error", app_error)
    return await aiohttp_client(app)


async def test_a_crash_is_500_json_without_traceback(crashing_client: TestClient) -> None:
    response = await crashing_client.get("/api/test/crash")
    text = await response.text()
    body = await json_of(response)

    assert response.status == 500
    assert body == {
        "success": False,
        "error": {"code": "internal_error", "message": "internal server error"},
    }
    assert "Traceback" not in text and "secret detail" not in text and "RuntimeError" not in text


async def test_an_html_http_error_becomes_json(crashing_client: TestClient) -> None:
    response = await crashing_client.get("/api/test/forbidden")
    body = await json_of(response)
    assert response.status == 403
    assert_envelope(body, "forbidden")


async def test_an_app_error_keeps_its_status_code_and_details(
    crashing_client: TestClient,
) -> None:
    response = await crashing_client.get("/api/test/app-error")
    body = await json_of(response)
    assert response.status == 418
    assert body["error"] == {
        "code": "teapot",
        "message": "short and stout",
        "details": {"spout": True},
    }


async def test_rate_limit_is_429_json_with_retry_after(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    # A standard-rate client allowed a single request per window.
    tight = settings.model_copy(update={"rate_limit_multiplier": 0.001})
    client = await aiohttp_client(create_app(tight))

    first = await client.get("/api/products")
    second = await client.get("/api/products")
    body = await json_of(second)

    assert first.status == 401
    assert second.status == 429
    assert_envelope(body, "rate_limited")
    assert int(second.headers["Retry-After"]) >= 1


async def test_errors_carry_the_request_id(client: TestClient) -> None:
    response = await client.get("/api/nope", headers={"X-Request-ID": "req-12345678"})
    assert response.status == 404
    assert response.headers["X-Request-ID"] == "req-12345678"


async def test_health_is_ok(client: TestClient) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert await json_of(response) == {"success": True, "status": "ok"}


async def test_ready_checks_the_database(client: TestClient) -> None:
    response = await client.get("/ready")
    body = await json_of(response)
    assert response.status == 200
    assert body["success"] is True
    assert body["checks"]["database"] is True


async def test_ready_is_503_when_a_check_fails(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    async def down() -> bool:
        return False

    client = await aiohttp_client(create_app(settings, readiness={"queue": down}))
    response = await client.get("/ready")
    body = await json_of(response)
    assert response.status == 503
    assert body["success"] is False
    assert body["checks"]["queue"] is False
    assert body["checks"]["database"] is True


async def test_nul_characters_are_refused_naming_the_field(seller_client: TestClient) -> None:
    search = await seller_client.get("/api/products", params={"search": "a\x00b"})
    body = await seller_client.post(
        "/api/products", json={"name": "Phone\x00", "sku": "N1", "price": 1}
    )

    assert search.status == body.status == 400
    assert (await search.json())["error"]["field"] == "search"
    assert (await body.json())["error"]["field"] == "name"


async def test_head_answers_like_get_without_a_body(seller_client: TestClient) -> None:
    get = await seller_client.get("/api/products")
    head = await seller_client.head("/api/products")
    assert (head.status, head.content_type) == (get.status, "application/json")
    assert await head.read() == b""
    assert (await seller_client.head("/api/products/999")).status == 404

"""Cross-site requests, CORS and the security headers of every answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from core.settings import Settings
from tests.conftest import register
from web.app import create_app

AiohttpClient = Callable[..., Awaitable[TestClient]]
CABINET = "https://cabinet.example.uz"
PRODUCT = {"name": "Box", "sku": "BOX-1", "price": 1000}


@pytest.fixture
async def cors_client(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> TestClient:
    """The app with one allowed browser origin; the client itself sends no Origin."""
    settings.cors_origins = f"{CABINET}, https://shop.example.uz/"
    return await aiohttp_client(create_app(settings))


async def logged_in(client: TestClient) -> None:
    response = await client.post(
        "/api/register",
        json={"username": "alice", "password": "long-password"},
        headers={"Origin": CABINET},
    )
    assert response.status == 201


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "https://cabinet.example.uz.evil.example",
        "https://evil.example/https://cabinet.example.uz",
        "http://cabinet.example.uz",  # same host, wrong scheme
        "https://cabinet.example.uz:8443",
        "https://CABINET.example.uz@evil.example",
    ],
)
async def test_forged_origin_cannot_change_data(cors_client: TestClient, origin: str) -> None:
    await logged_in(cors_client)
    for method, path, body in [
        ("POST", "/api/products", PRODUCT),
        ("PUT", "/api/user", {"fullName": "pwned"}),
        ("PUT", "/api/user/password", {"currentPassword": "x", "newPassword": "y" * 10}),
        ("POST", "/api/logout", None),
    ]:
        response = await cors_client.request(method, path, json=body, headers={"Origin": origin})
        assert response.status == 403, (method, path)
        assert (await response.json())["error"]["code"] == "forbidden"
        assert "Access-Control-Allow-Origin" not in response.headers
    assert (await cors_client.get("/api/user")).status == 200  # still logged in


async def test_a_script_with_the_cookie_and_no_origin_may_change_data(
    cors_client: TestClient,
) -> None:
    # curl or the seller's own tool: JSON and PUT/DELETE need a preflight from a page.
    await logged_in(cors_client)
    created = await cors_client.post("/api/products", json=PRODUCT)
    assert created.status == 201
    product_id = (await created.json())["data"]["id"]
    updated = await cors_client.put(f"/api/products/{product_id}", json={"price": 2000})
    assert updated.status == 200
    assert (await cors_client.delete(f"/api/products/{product_id}")).status == 200
    assert (await cors_client.post("/api/logout")).status == 200
    assert (await cors_client.get("/api/user")).status == 401


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_form_shaped_cookie_request_without_origin_is_refused(
    cors_client: TestClient, content_type: str
) -> None:
    # What a page elsewhere can send without a preflight, its origin stripped by the browser.
    await logged_in(cors_client)
    response = await cors_client.post(
        "/api/logout", data="x=1", headers={"Content-Type": content_type}
    )
    assert response.status == 403
    assert (await response.json())["error"]["details"]["reason"] == "origin"
    assert (await cors_client.get("/api/user")).status == 200


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
async def test_fetch_metadata_from_another_site_without_origin_is_refused(
    cors_client: TestClient, site: str
) -> None:
    await logged_in(cors_client)
    response = await cors_client.post(
        "/api/products", json=PRODUCT, headers={"Sec-Fetch-Site": site}
    )
    assert response.status == 403
    listed = await cors_client.post(
        "/api/products", json=PRODUCT, headers={"Sec-Fetch-Site": site, "Origin": CABINET}
    )
    assert listed.status == 201


async def test_referer_stands_in_for_a_missing_origin(cors_client: TestClient) -> None:
    await logged_in(cors_client)
    good = await cors_client.post(
        "/api/products", json=PRODUCT, headers={"Referer": CABINET + "/products/new?x=1"}
    )
    bad = await cors_client.post(
        "/api/products",
        json={**PRODUCT, "sku": "BOX-2"},
        headers={"Referer": "https://evil.example/" + CABINET},
    )
    assert good.status == 201
    assert bad.status == 403


@pytest.mark.parametrize("origin", [CABINET, "https://shop.example.uz", "http://127.0.0.1:8080"])
async def test_listed_and_own_origins_may_change_data(
    cors_client: TestClient, origin: str
) -> None:
    await logged_in(cors_client)
    response = await cors_client.post("/api/products", json=PRODUCT, headers={"Origin": origin})
    assert response.status == 201


async def test_the_request_host_is_its_own_origin(cors_client: TestClient) -> None:
    await logged_in(cors_client)
    own = str(cors_client.make_url("/")).rstrip("/")
    response = await cors_client.post("/api/products", json=PRODUCT, headers={"Origin": own})
    assert response.status == 201


async def test_login_csrf_from_a_foreign_page_is_refused(cors_client: TestClient) -> None:
    await logged_in(cors_client)
    await cors_client.post("/api/logout", headers={"Origin": CABINET})
    response = await cors_client.post(
        "/api/login",
        json={"username": "alice", "password": "long-password"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status == 403


async def test_scripts_without_cookies_or_origin_may_log_in(cors_client: TestClient) -> None:
    await logged_in(cors_client)
    cors_client.session.cookie_jar.clear()
    response = await cors_client.post(
        "/api/login", json={"username": "alice", "password": "long-password"}
    )
    assert response.status == 200


async def test_a_text_plain_body_is_refused(cors_client: TestClient) -> None:
    # The classic cross-site JSON post: a "simple" request that needs no preflight.
    await logged_in(cors_client)
    response = await cors_client.post(
        "/api/products",
        data='{"name": "Box", "sku": "BOX-1", "price": 1000}',
        headers={"Origin": CABINET, "Content-Type": "text/plain"},
    )
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_media_type"


async def test_preflight_for_a_listed_origin(cors_client: TestClient) -> None:
    response = await cors_client.options(
        "/api/products",
        headers={
            "Origin": CABINET,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-Evil",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == CABINET
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", CABINET + ".evil.example"])
async def test_preflight_for_other_origins_is_refused(
    cors_client: TestClient, origin: str
) -> None:
    response = await cors_client.options(
        "/api/products",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_echoes_the_exact_origin_never_a_wildcard(cors_client: TestClient) -> None:
    await logged_in(cors_client)
    listed = await cors_client.get("/api/user", headers={"Origin": CABINET})
    other = await cors_client.get("/api/user", headers={"Origin": "https://evil.example"})
    error = await cors_client.get("/api/products/999", headers={"Origin": CABINET})

    assert listed.headers["Access-Control-Allow-Origin"] == CABINET
    assert listed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-RateLimit-Remaining" in listed.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in other.headers
    assert error.status == 404 and error.headers["Access-Control-Allow-Origin"] == CABINET
    for response in (listed, other, error):
        assert "Origin" in response.headers.getall("Vary", [""])[0] or any(
            "Origin" in v for v in response.headers.getall("Vary")
        )
        assert response.headers.get("Access-Control-Allow-Origin") != "*"


async def test_no_cors_without_configured_origins(client: TestClient) -> None:
    response = await client.get("/api/products", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/products"),
        ("GET", "/api/products/1"),
        ("POST", "/api/products"),
        ("GET", "/api/nowhere"),
        ("PATCH", "/api/products"),
        ("GET", "/api/openapi.json"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/nothing-here"),
    ],
)
async def test_security_headers_on_every_answer(
    seller_client: TestClient, method: str, path: str
) -> None:
    response = await seller_client.request(method, path, json={"bad": True})
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "aiohttp" not in headers.get("Server", "").lower()
    assert "python" not in headers.get("Server", "").lower()
    assert headers["Content-Type"].startswith("application/json")
    if path.startswith("/api/"):
        assert headers["Cache-Control"] == "no-store"


async def test_the_docs_page_has_a_strict_csp(client: TestClient) -> None:
    response = await client.get("/api/docs")
    csp = response.headers["Content-Security-Policy"]
    directives = {}
    for part in csp.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    assert response.status == 200
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["object-src"] == "'none'" or "object-src" not in directives
    assert directives.get("base-uri") == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_callbacks_are_not_subject_to_the_origin_check(client: TestClient) -> None:
    await register(client, "alice")
    response = await client.post(
        "/api/payment/callback/click/prepare",
        data="x=1",
        headers={"Origin": "https://evil.example"},
    )
    assert response.status != 403


async def test_metrics_are_served_to_the_local_scraper_only(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.trusted_proxies = "127.0.0.1/32, ::1/128"
    client = await aiohttp_client(create_app(settings))

    local = await client.get("/metrics")
    through_proxy = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    settings_closed = await aiohttp_client(
        create_app(settings.model_copy(update={"metrics_allowed_networks": "10.0.0.0/8"}))
    )
    closed = await settings_closed.get("/metrics")

    assert local.status == 200
    assert through_proxy.status == 404
    assert (await through_proxy.json())["error"]["code"] == "not_found"
    assert closed.status == 404

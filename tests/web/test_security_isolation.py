"""Tenant isolation, mass assignment and admin-only routes, walked from the OpenAPI document.

Every path with a parameter in the served document is called by a second seller with the
first seller's ids, and must answer exactly as for an id that does not exist. A new route
with a path parameter needs an entry in ID_SOURCES below (how the first seller gets one),
or this test fails naming it: isolation is proven per route, not assumed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.models import AuditEvent, Channel, Notification, NotificationBatch, Seller
from core.services import accounts
from core.settings import Settings, use_settings
from tests.conftest import register
from tests.payments.clients import merchant_settings

Ids = dict[str, str]
IdSource = Callable[[TestClient], Awaitable[Ids]]

# Fields a client must never set through a body, nor read in an answer (beyond its own plan).
FORBIDDEN_IN = {
    "plan": "enterprise",
    "planExpiresAt": "2099-01-01T00:00:00Z",
    "balance": 10**9,
    "sellerId": 1,
    "seller_id": 1,
    "isAdmin": True,
    "is_admin": True,
    "passwordHash": "$argon2id$v=19$m=19456,t=2,p=1$x$y",
    "password_hash": "x",
    "isActive": True,
    "id": 1,
}
FORBIDDEN_OUT = {
    "passwordHash",
    "password_hash",
    "password",
    "isAdmin",
    "is_admin",
    "sellerId",
    "seller_id",
}
MISSING = {"id": "999999", "transactionId": "SUB-999999-1"}


async def _json(response: Any) -> Any:
    text = await response.text()
    return json.loads(text) if text else None


async def new_product(client: TestClient) -> Ids:
    response = await client.post(
        "/api/products", json={"name": "Secret box", "sku": "SECRET-1", "price": 5000}
    )
    assert response.status == 201, await response.text()
    return {"id": str((await response.json())["data"]["id"])}


async def new_order(client: TestClient) -> Ids:
    response = await client.post(
        "/api/orders",
        json={
            "customerName": "Dilnoza",
            "customerPhone": "+998901234567",
            "items": [{"name": "Private item", "quantity": 1, "price": 1000}],
        },
    )
    assert response.status == 201, await response.text()
    return {"id": str((await response.json())["data"]["id"])}


def _find(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = _find(item, key)
            if found is not None:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find(item, key)
            if found is not None:
                return found
    return None


async def new_payment(client: TestClient) -> Ids:
    response = await client.post(
        "/api/payment/create-payment",
        json={"amount": 300_000, "pricingTier": "starter_pro", "provider": "click"},
    )
    assert response.status in {200, 201}, await response.text()
    return {"transactionId": str(_find(await response.json(), "transactionId"))}


async def new_customer(client: TestClient) -> Ids:
    response = await client.post(
        "/api/customers", json={"name": "Aziza", "phone": "+998 90 765 43 21"}
    )
    assert response.status == 201, await response.text()
    return {"id": str((await response.json())["data"]["id"])}


async def _owner(client: TestClient) -> Seller:
    data = await (await client.get("/api/user")).json()
    return await Seller.get(id=data["data"]["id"])


async def new_notification(client: TestClient) -> Ids:
    # Made in the database: sending would need a configured channel, and only the row matters.
    seller = await _owner(client)
    row = await Notification.create(
        seller=seller,
        channel=Channel.SMS,
        recipient="998901234567",
        type="custom",
        text="private text",
        next_attempt_at=datetime.now(UTC),
        dedupe_key=f"isolation-{seller.id}",
    )
    return {"id": str(row.id)}


async def new_batch(client: TestClient) -> Ids:
    batch = await NotificationBatch.create(seller=await _owner(client), type="custom", total=1)
    return {"id": str(batch.id)}


# The item path of each kind of object, and how the first seller makes one.
ID_SOURCES: dict[str, IdSource] = {
    "/api/products/{id}": new_product,
    "/api/orders/{id}": new_order,
    "/api/payment/verify/{transactionId}": new_payment,
    "/api/customers/{id}": new_customer,
    "/api/notifications/{id}": new_notification,
    "/api/notifications/batches/{id}": new_batch,
}
# Valid bodies, so that the second seller's request is refused for the id, not the body.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/api/products/{id}"): {"name": "stolen", "price": 1},
    ("PUT", "/api/orders/{id}/status"): {"status": "cancelled"},
    ("POST", "/api/products"): {"name": "Box", "sku": "BOX-9", "price": 1000},
    ("PUT", "/api/user"): {"fullName": "New Name"},
    ("POST", "/api/register"): {"username": "newbie", "password": "long-password"},
    ("POST", "/api/orders"): {"items": [{"name": "Box", "quantity": 1, "price": 5}]},
    ("PUT", "/api/customers/{id}"): {"name": "stolen"},
    ("POST", "/api/customers"): {"phone": "+998 90 111 22 33"},
}
# Not a seller's objects: administrators' routes have tests of their own below.
NOT_TENANT_PATHS = ("/api/admin/",)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in doc["paths"].items():
        for method, spec in methods.items():
            yield method.upper(), path, spec


def source_for(path: str) -> tuple[str, IdSource] | None:
    matches = [base for base in ID_SOURCES if path == base or path.startswith(base + "/")]
    if not matches:
        return None
    base = max(matches, key=len)
    return base, ID_SOURCES[base]


def fill(path: str, ids: Ids) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def enterprise(username: str) -> None:
    await Seller.filter(username=username).update(
        plan="enterprise", plan_expires_at=datetime.now(UTC) + timedelta(days=30)
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Click and Payme set up: the walk creates payments like any other object."""
    value = merchant_settings(settings)
    use_settings(value)
    return value


@pytest.fixture
async def two_sellers(client: TestClient, make_client) -> tuple[TestClient, TestClient]:
    await register(client, "alice", "long-password")
    other = await make_client()
    await register(other, "mallory", "long-password")
    await enterprise("alice")
    await enterprise("mallory")
    return client, other


async def served_document(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    return await response.json()


def walk_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_keys(item)


async def test_a_second_seller_gets_404_for_every_id_of_the_first(
    two_sellers: tuple[TestClient, TestClient],
) -> None:
    alice, mallory = two_sellers
    doc = await served_document(alice)
    with_params = [
        (method, path, spec)
        for method, path, spec in operations(doc)
        if "{" in path and not path.startswith(NOT_TENANT_PATHS)
    ]
    unknown = sorted({path for _, path, _ in with_params if source_for(path) is None})
    assert not unknown, f"add an ID_SOURCES entry to prove isolation of {unknown}"

    made: dict[str, Ids] = {}
    for base, make in ID_SOURCES.items():
        if any(source_for(path) == (base, make) for _, path, _ in with_params):
            made[base] = await make(alice)
    before = {base: await _json(await alice.get(fill(base, ids))) for base, ids in made.items()}

    walked = []
    for method, path, _spec in with_params:
        found = source_for(path)
        assert found is not None
        ids = made[found[0]]
        body = BODIES.get((method, path))
        theirs = await mallory.request(method, fill(path, ids), json=body)
        missing = await mallory.request(
            method, fill(path, {k: MISSING.get(k, "999999") for k in ids}), json=body
        )
        theirs_body, missing_body = await _json(theirs), await _json(missing)
        assert theirs.status == 404, (method, path, theirs_body)
        assert (theirs.status, theirs_body) == (missing.status, missing_body), (method, path)
        walked.append((method, path))

    after = {base: await _json(await alice.get(fill(base, ids))) for base, ids in made.items()}
    assert after == before
    assert len(walked) == len(with_params) >= 5


async def test_lists_and_bodies_never_reach_another_sellers_objects(
    two_sellers: tuple[TestClient, TestClient],
) -> None:
    alice, mallory = two_sellers
    product = await new_product(alice)
    await new_order(alice)

    products = await (await mallory.get("/api/products?search=Secret")).json()
    orders = await (await mallory.get("/api/orders")).json()
    assert products["data"] == [] and products["pagination"]["total"] == 0
    assert orders["data"] == []

    # An order naming the other seller's product must not reserve its stock.
    stock_before = (await (await alice.get(f"/api/products/{product['id']}")).json())["data"]
    response = await mallory.post(
        "/api/orders", json={"items": [{"productId": int(product["id"]), "quantity": 1}]}
    )
    stock_after = (await (await alice.get(f"/api/products/{product['id']}")).json())["data"]
    assert response.status in {400, 404}
    assert stock_after == stock_before


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _object_schemas(doc: dict[str, Any], schema: dict[str, Any], seen: set[int]) -> Iterator:
    schema = _resolve(doc, schema)
    if id(schema) in seen:
        return
    seen.add(id(schema))
    if schema.get("type") == "object" and "properties" in schema:
        yield schema  # branches of anyOf/oneOf only narrow their parent's properties
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            yield from _object_schemas(doc, part, seen)
    if "items" in schema:
        yield from _object_schemas(doc, schema["items"], seen)
    for prop in schema.get("properties", {}).values():
        yield from _object_schemas(doc, prop, seen)


async def test_no_request_body_accepts_a_privileged_field(client: TestClient) -> None:
    doc = await served_document(client)
    checked = 0
    for method, path, spec in operations(doc):
        if "requestBody" not in spec or path.startswith(NOT_TENANT_PATHS):
            continue
        for media in spec["requestBody"]["content"].values():
            for schema in _object_schemas(doc, media["schema"], set()):
                assert schema.get("additionalProperties") is False, (method, path)
                assert not set(schema["properties"]) & set(FORBIDDEN_IN), (method, path)
                checked += 1
    assert checked >= 6


async def test_privileged_fields_sent_anyway_are_refused_and_change_nothing(
    two_sellers: tuple[TestClient, TestClient],
) -> None:
    alice, _ = two_sellers
    doc = await served_document(alice)
    own = {base: await make(alice) for base, make in ID_SOURCES.items()}
    seller_before = await Seller.get(username="alice")

    for method, path, spec in operations(doc):
        if "requestBody" not in spec or path.startswith(NOT_TENANT_PATHS):
            continue
        found = source_for(path)
        url = fill(path, own[found[0]]) if found else path
        for name, value in FORBIDDEN_IN.items():
            body = {**BODIES.get((method, path), {}), name: value}
            response = await alice.request(method, url, json=body)
            answer = await _json(response)
            assert response.status == 400, (method, path, name, answer)
            if (method, path) in BODIES:
                assert answer["error"]["field"] == name, (method, path, name)

    seller_after = await Seller.get(username="alice")
    for field in ("plan", "plan_expires_at", "is_admin", "is_active", "password_hash", "id"):
        assert getattr(seller_after, field) == getattr(seller_before, field), field


async def test_no_answer_shows_a_hash_an_admin_flag_or_a_seller_id(
    two_sellers: tuple[TestClient, TestClient],
) -> None:
    alice, _ = two_sellers
    own = {base: await make(alice) for base, make in ID_SOURCES.items()}
    doc = await served_document(alice)
    answers = []
    for method, path, _spec in operations(doc):
        if method != "GET":
            continue
        found = source_for(path)
        url = fill(path, own[found[0]]) if found else path
        response = await alice.get(url)
        answers.append(await _json(response))
    answers.append(
        await _json(
            await alice.post("/api/login", json={"username": "alice", "password": "long-password"})
        )
    )
    leaked = {key for answer in answers for key in walk_keys(answer)} & FORBIDDEN_OUT
    assert leaked == set()
    # The schemas promise the same for every answer.
    assert not {key for key in walk_keys(doc["components"]["schemas"])} & FORBIDDEN_OUT - {
        "password"
    }


# --- administrators -------------------------------------------------------------------------


def admin_operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in operations(doc) if p.startswith("/api/admin/")]


async def test_admin_routes_answer_403_to_sellers_whatever_the_body(
    seller_client: TestClient,
) -> None:
    doc = await served_document(seller_client)
    admin_ops = admin_operations(doc)
    assert admin_ops
    for method, path in admin_ops:
        url = fill(path, {"id": "1"})
        for body in (None, {}, {"plan": "enterprise"}, {"junk": 1}):
            response = await seller_client.request(method, url, json=body)
            assert response.status == 403, (method, path, body)
            assert (await response.json())["error"]["code"] == "forbidden"
    seller = await Seller.get(username="alice")
    assert seller.plan == "free"


async def test_admin_routes_answer_401_to_strangers(client: TestClient) -> None:
    doc = await served_document(client)
    for method, path in admin_operations(doc):
        response = await client.request(method, fill(path, {"id": "1"}), json={"plan": "free"})
        assert response.status == 401, (method, path)


async def test_an_admin_lists_sellers_and_grants_a_plan(client: TestClient, make_client) -> None:
    await register(client, "root", "long-password")
    await Seller.filter(username="root").update(is_admin=True)
    shop = await make_client()
    await register(shop, "shop", "long-password")
    shop_id = (await Seller.get(username="shop")).id

    listing = await client.get("/api/admin/sellers?search=sho")
    body = await listing.json()
    assert listing.status == 200
    assert [s["username"] for s in body["data"]] == ["shop"]
    assert not set(walk_keys(body)) & FORBIDDEN_OUT

    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    granted = await client.put(
        f"/api/admin/sellers/{shop_id}/plan", json={"plan": "premium", "expiresAt": expires}
    )
    assert granted.status == 200
    assert (await granted.json())["data"]["plan"] == "premium"
    assert (await shop.get("/api/products")).headers["X-RateLimit-Limit"] == "500"
    assert await AuditEvent.filter(action="seller.plan_set", object_id=str(shop_id)).count() == 1

    unknown_tier = await client.put(f"/api/admin/sellers/{shop_id}/plan", json={"plan": "gold"})
    unknown_seller = await client.put("/api/admin/sellers/999999/plan", json={"plan": "free"})
    naive = await client.put(
        f"/api/admin/sellers/{shop_id}/plan",
        json={"plan": "premium", "expiresAt": "2030-01-01T00:00:00"},
    )
    past = await client.put(
        f"/api/admin/sellers/{shop_id}/plan",
        json={"plan": "premium", "expiresAt": "2020-01-01T00:00:00Z"},
    )
    assert unknown_tier.status == 400
    assert unknown_seller.status == 404
    assert naive.status == 400
    assert past.status == 400 and (await past.json())["error"]["field"] == "expiresAt"
    # A plan that ran out reads as free at once, before the nightly job records it.
    await Seller.filter(id=shop_id).update(plan_expires_at=datetime.now(UTC) - timedelta(hours=1))
    accounts.forget()
    user = (await (await shop.get("/api/user")).json())["data"]
    assert (user["plan"], user["planExpiresAt"]) == ("free", None)

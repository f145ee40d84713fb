"""`/api/products`: CRUD, SKU uniqueness per seller, pagination, search and filters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import register

MakeClient = Callable[..., Awaitable[TestClient]]


async def create_product(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Tea", "sku": "TEA-1", "price": 45_000, "stockQuantity": 10, **fields}
    response = await client.post("/api/products", json=body)
    assert response.status == 201, await response.text()
    return (await response.json())["data"]


async def other_seller(make_client: MakeClient, username: str = "bob") -> TestClient:
    other = await make_client()
    await register(other, username)
    return other


async def test_create_returns_camel_case_product(seller_client: TestClient) -> None:
    response = await seller_client.post(
        "/api/products",
        json={
            "name": " Honey 1 kg ",
            "sku": "HONEY-1",
            "price": 119_000,
            "stockQuantity": 7,
            "category": "Food",
            "description": "Mountain honey",
            "photos": ["https://example.com/honey.jpg"],
        },
    )
    body = await response.json()

    assert response.status == 201
    assert body["success"] is True
    data = body["data"]
    assert {k: data[k] for k in ("name", "sku", "price", "stockQuantity", "category")} == {
        "name": "Honey 1 kg",
        "sku": "HONEY-1",
        "price": 119_000,
        "stockQuantity": 7,
        "category": "Food",
    }
    assert data["photos"] == ["https://example.com/honey.jpg"]
    assert set(data) == {
        "id",
        "sku",
        "name",
        "description",
        "price",
        "stockQuantity",
        "category",
        "photos",
        "createdAt",
        "updatedAt",
    }


async def test_get_update_delete(seller_client: TestClient) -> None:
    product = await create_product(seller_client)
    url = f"/api/products/{product['id']}"

    got = await seller_client.get(url)
    assert got.status == 200
    assert (await got.json())["data"] == product

    updated = await seller_client.put(url, json={"price": 50_000, "stockQuantity": 3})
    data = (await updated.json())["data"]
    assert updated.status == 200
    assert (data["price"], data["stockQuantity"], data["name"]) == (50_000, 3, "Tea")

    deleted = await seller_client.delete(url)
    assert deleted.status == 200
    assert await deleted.json() == {"success": True}
    assert (await seller_client.get(url)).status == 404


async def test_empty_update_changes_nothing(seller_client: TestClient) -> None:
    product = await create_product(seller_client)
    response = await seller_client.put(f"/api/products/{product['id']}", json={})
    assert response.status == 200
    assert (await response.json())["data"]["price"] == product["price"]


async def test_duplicate_sku_is_409_naming_sku(seller_client: TestClient) -> None:
    await create_product(seller_client, sku="SAME")
    response = await seller_client.post(
        "/api/products", json={"name": "Other", "sku": "SAME", "price": 1}
    )
    body = await response.json()
    assert response.status == 409
    assert body["success"] is False
    assert (body["error"]["code"], body["error"]["field"]) == ("conflict", "sku")


async def test_renaming_to_a_taken_sku_is_409(seller_client: TestClient) -> None:
    await create_product(seller_client, sku="FIRST")
    second = await create_product(seller_client, sku="SECOND")
    response = await seller_client.put(f"/api/products/{second['id']}", json={"sku": "FIRST"})
    body = await response.json()
    assert response.status == 409
    assert body["error"]["field"] == "sku"
    assert (await (await seller_client.get(f"/api/products/{second['id']}")).json())["data"][
        "sku"
    ] == "SECOND"


async def test_same_sku_for_two_sellers_is_fine(
    seller_client: TestClient, make_client: MakeClient
) -> None:
    other = await other_seller(make_client)
    mine = await create_product(seller_client, sku="SHARED")
    theirs = await create_product(other, sku="SHARED")
    assert mine["id"] != theirs["id"]


async def test_list_paginates(seller_client: TestClient) -> None:
    for i in range(25):
        await create_product(seller_client, sku=f"P-{i:02d}", name=f"Product {i:02d}")

    first = await (await seller_client.get("/api/products", params={"limit": 10})).json()
    last = await (await seller_client.get("/api/products?page=3&limit=10")).json()
    beyond = await (await seller_client.get("/api/products?page=4&limit=10")).json()

    assert first["pagination"] == {"page": 1, "limit": 10, "total": 25, "pages": 3}
    assert [p["sku"] for p in first["data"]] == [f"P-{i:02d}" for i in range(24, 14, -1)]
    assert last["pagination"] == {"page": 3, "limit": 10, "total": 25, "pages": 3}
    assert [p["sku"] for p in last["data"]] == [f"P-{i:02d}" for i in range(4, -1, -1)]
    assert beyond["data"] == []
    assert beyond["pagination"] == {"page": 4, "limit": 10, "total": 25, "pages": 3}


async def test_list_defaults_and_empty_catalog(seller_client: TestClient) -> None:
    body = await (await seller_client.get("/api/products")).json()
    assert body == {
        "success": True,
        "data": [],
        "pagination": {"page": 1, "limit": 20, "total": 0, "pages": 0},
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("honey", ["HNY-1"]),
        ("TEA", ["GRN-TEA", "BLK-1"]),  # name or SKU, case-insensitive
        ("blk", ["BLK-1"]),
        ("nothing", []),
    ],
)
async def test_search_by_name_or_sku(
    seller_client: TestClient, search: str, expected: list[str]
) -> None:
    await create_product(seller_client, sku="BLK-1", name="Black tea")
    await create_product(seller_client, sku="HNY-1", name="Mountain honey")
    await create_product(seller_client, sku="GRN-TEA", name="Green leaves")

    body = await (await seller_client.get("/api/products", params={"search": search})).json()
    assert [p["sku"] for p in body["data"]] == expected
    assert body["pagination"]["total"] == len(expected)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ФУТБОЛКА", ["RU-1"]),  # Cyrillic folds too, not only ASCII
        ("oʻzbek", ["UZ-1"]),
        ("OʻZBEK", ["UZ-1"]),
        ("50%", ["PCT-1"]),  # % and _ are letters here, not patterns
        ("a_b", ["US-1"]),
        ("%", ["PCT-1"]),
    ],
)
async def test_search_folds_every_script_and_takes_wildcards_literally(
    seller_client: TestClient, search: str, expected: list[str]
) -> None:
    await create_product(seller_client, sku="RU-1", name="Футболка хлопковая")
    await create_product(seller_client, sku="UZ-1", name="Oʻzbek choponi")
    await create_product(seller_client, sku="PCT-1", name="Sale 50% off")
    await create_product(seller_client, sku="US-1", name="a_b connector")
    await create_product(seller_client, sku="AXB-1", name="axb connector")

    body = await (await seller_client.get("/api/products", params={"search": search})).json()
    assert [p["sku"] for p in body["data"]] == expected


async def test_category_filter_and_search_combine(seller_client: TestClient) -> None:
    await create_product(seller_client, sku="K-1", name="Kettle", category="Home")
    await create_product(seller_client, sku="K-2", name="Kettle bell", category="Sport")
    await create_product(seller_client, sku="P-1", name="Pan", category="Home")

    home = await (await seller_client.get("/api/products?category=Home")).json()
    kettles = await (await seller_client.get("/api/products?category=Home&search=kettle")).json()

    assert [p["sku"] for p in home["data"]] == ["P-1", "K-1"]
    assert [p["sku"] for p in kettles["data"]] == ["K-1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("unknown=1", "unknown"),
    ],
)
async def test_bad_list_query_is_400_naming_the_parameter(
    seller_client: TestClient, query: str, field: str
) -> None:
    response = await seller_client.get(f"/api/products?{query}")
    body = await response.json()
    assert response.status == 400
    assert (body["error"]["code"], body["error"]["field"]) == ("validation_error", field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "X", "price": 1}, "name"),
        ({"name": "X", "sku": "has space", "price": 1}, "sku"),
        ({"name": "X", "sku": "X", "price": -1}, "price"),
        ({"name": "X", "sku": "X", "price": "cheap"}, "price"),
        ({"name": "X", "sku": "X", "price": 1, "stockQuantity": 1.5}, "stockQuantity"),
        ({"name": "X", "sku": "X", "price": 1, "stock": 5}, "stock"),
        ({"name": "X", "sku": "X", "price": 1, "sellerId": 2}, "sellerId"),
        ({"name": "X", "sku": "X", "price": 1, "photos": "a.jpg"}, "photos"),
        ({"name": "X", "sku": "X", "price": 1, "photos": [""]}, "photos[0]"),
    ],
)
async def test_invalid_product_is_400_naming_the_field(
    seller_client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = await seller_client.post("/api/products", json=body)
    answer = await response.json()
    assert response.status == 400
    assert answer["error"]["field"] == field
    assert (await (await seller_client.get("/api/products")).json())["pagination"]["total"] == 0


async def test_products_need_a_session(client: TestClient) -> None:
    response = await client.get("/api/products")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "not_authenticated"


async def test_list_shows_only_own_products(
    seller_client: TestClient, make_client: MakeClient
) -> None:
    other = await other_seller(make_client)
    await create_product(seller_client, sku="MINE")
    await create_product(other, sku="THEIRS")

    mine = await (await seller_client.get("/api/products")).json()
    assert [p["sku"] for p in mine["data"]] == ["MINE"]
    assert mine["pagination"]["total"] == 1


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", {"price": 1}), ("DELETE", None)],
)
async def test_another_sellers_product_is_404_like_a_missing_one(
    seller_client: TestClient, make_client: MakeClient, method: str, body: dict[str, Any] | None
) -> None:
    other = await other_seller(make_client)
    theirs = await create_product(other, sku="THEIRS", price=999)

    foreign = await seller_client.request(method, f"/api/products/{theirs['id']}", json=body)
    missing = await seller_client.request(method, "/api/products/999999", json=body)

    assert foreign.status == missing.status == 404
    assert await foreign.json() == await missing.json()
    after = await (await other.get(f"/api/products/{theirs['id']}")).json()
    assert after["data"] == theirs


@pytest.mark.parametrize("raw_id", ["abc", "-1", "1.5", "9" * 30])
async def test_non_numeric_id_is_404(seller_client: TestClient, raw_id: str) -> None:
    response = await seller_client.get(f"/api/products/{raw_id}")
    body = await response.json()
    assert response.status == 404
    assert body["error"]["code"] == "not_found"

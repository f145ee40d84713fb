"""`/api/orders`: totals, stock reservation, the status machine and seller isolation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.models import AuditEvent, Customer, Order, OrderEvent, OrderStatus, Product
from core.services.orders import TRANSITIONS
from tests.conftest import register
from tests.web.test_products import create_product, other_seller

MakeClient = Callable[..., Awaitable[TestClient]]
S = OrderStatus

# The path from `new` that reaches each status, with what each step needs.
PATHS: dict[OrderStatus, list[OrderStatus]] = {
    S.NEW: [],
    S.CONFIRMED: [S.CONFIRMED],
    S.SHIPPED: [S.CONFIRMED, S.SHIPPED],
    S.DELIVERED: [S.CONFIRMED, S.SHIPPED, S.DELIVERED],
    S.CANCELLED: [S.CANCELLED],
    S.RETURNED: [S.CONFIRMED, S.SHIPPED, S.RETURNED],
}
ALLOWED = {
    (S.NEW, S.CONFIRMED),
    (S.NEW, S.CANCELLED),
    (S.CONFIRMED, S.SHIPPED),
    (S.CONFIRMED, S.CANCELLED),
    (S.SHIPPED, S.DELIVERED),
    (S.SHIPPED, S.RETURNED),
    (S.DELIVERED, S.RETURNED),
}
EVERY_PAIR = [(a, b) for a in S for b in S]


async def create_order(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/orders", json=fields)
    assert response.status == 201, await response.text()
    return (await response.json())["data"]


async def set_status(
    client: TestClient, order_id: int, status: str, **extra: Any
) -> tuple[int, dict[str, Any]]:
    response = await client.put(f"/api/orders/{order_id}/status", json={"status": status, **extra})
    return response.status, await response.json()


async def walk(client: TestClient, order_id: int, path: list[OrderStatus]) -> None:
    for status in path:
        extra = {"trackingNumber": "UZ123456789"} if status is S.SHIPPED else {}
        code, body = await set_status(client, order_id, status, **extra)
        assert code == 200, body


async def stock_of(client: TestClient, product_id: int) -> int:
    body = await (await client.get(f"/api/products/{product_id}")).json()
    return int(body["data"]["stockQuantity"])


async def order_count() -> int:
    return await Order.all().count()


# --- creation ---------------------------------------------------------------------------------


async def test_catalog_and_free_lines_compute_the_total(seller_client: TestClient) -> None:
    tea = await create_product(seller_client, sku="TEA", price=45_000, stockQuantity=10)

    order = await create_order(
        seller_client,
        customerName="Aziz Karimov",
        customerPhone="+998 90 123 45 67",
        deliveryAddress="Tashkent, Chilonzor 5",
        items=[
            {"productId": tea["id"], "quantity": 3},
            {"name": "Gift wrapping", "quantity": 2, "price": 5_000},
        ],
    )

    assert order["status"] == "new"
    assert order["totalAmount"] == 3 * 45_000 + 2 * 5_000
    assert order["customerPhone"] == "998901234567"
    assert [
        (i["productId"], i["name"], i["sku"], i["quantity"], i["unitPrice"], i["lineTotal"])
        for i in order["items"]
    ] == [
        (tea["id"], "Tea", "TEA", 3, 45_000, 135_000),
        (None, "Gift wrapping", None, 2, 5_000, 10_000),
    ]
    assert [(h["fromStatus"], h["toStatus"]) for h in order["history"]] == [(None, "new")]
    assert await stock_of(seller_client, tea["id"]) == 7
    assert await Customer.filter(phone="998901234567").count() == 1


async def test_a_matching_total_amount_is_accepted(seller_client: TestClient) -> None:
    order = await create_order(
        seller_client,
        items=[{"name": "Delivery", "quantity": 1, "price": 20_000}],
        totalAmount=20_000,
    )
    assert order["totalAmount"] == 20_000


async def test_mismatched_total_amount_is_400_with_the_expected_value(
    seller_client: TestClient,
) -> None:
    tea = await create_product(seller_client, sku="TEA", price=45_000, stockQuantity=10)

    response = await seller_client.post(
        "/api/orders",
        json={"items": [{"productId": tea["id"], "quantity": 2}], "totalAmount": 1_000},
    )
    body = await response.json()

    assert response.status == 409
    assert body["error"]["field"] == "totalAmount"
    assert body["error"]["details"]["expected"] == 90_000
    assert "90000" in body["error"]["message"]
    assert await order_count() == 0
    assert await stock_of(seller_client, tea["id"]) == 10


async def test_unknown_product_is_404_naming_the_line(seller_client: TestClient) -> None:
    response = await seller_client.post(
        "/api/orders", json={"items": [{"productId": 424242, "quantity": 1}]}
    )
    body = await response.json()
    assert response.status == 404
    assert body["error"]["field"] == "items[0].productId"
    assert await order_count() == 0


async def test_another_sellers_product_is_unknown_in_an_order(
    seller_client: TestClient, make_client: MakeClient
) -> None:
    other = await other_seller(make_client)
    theirs = await create_product(other, sku="THEIRS", stockQuantity=5)
    mine = await create_product(seller_client, sku="MINE", stockQuantity=5)

    response = await seller_client.post(
        "/api/orders",
        json={
            "items": [
                {"productId": mine["id"], "quantity": 1},
                {"productId": theirs["id"], "quantity": 1},
            ]
        },
    )
    assert response.status == 404
    assert (await response.json())["error"]["field"] == "items[1].productId"
    assert await stock_of(other, theirs["id"]) == 5
    assert await stock_of(seller_client, mine["id"]) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({}, "items"),
        ({"items": [{"productId": 1, "quantity": 0}]}, "items[0].quantity"),
        ({"items": [{"productId": "one", "quantity": 1}]}, "items[0].productId"),
        ({"items": [{"name": "Box", "quantity": 1}]}, "items[0].price"),
        ({"items": [{"name": "Box", "quantity": 1, "price": -5}]}, "items[0].price"),
        ({"items": [{"name": "Box", "quantity": 1, "price": 5, "x": 1}]}, "items[0].x"),
        ({"items": "all of them"}, "items"),
        ({"items": [5]}, "items[0]"),
        ({"items": [{"productId": 1, "quantity": 1, "price": 5}]}, "items[0].price"),
        ({"items": [{"name": "Box", "quantity": 1, "price": 5}], "status": "new"}, "status"),
        (
            {"items": [{"name": "Box", "quantity": 1, "price": 5}], "totalAmount": -1},
            "totalAmount",
        ),
        (
            {"items": [{"name": "Box", "quantity": 1, "price": 5}], "customerPhone": "12"},
            "customerPhone",
        ),
    ],
)
async def test_invalid_order_is_400_naming_the_field(
    seller_client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = await seller_client.post("/api/orders", json=body)
    answer = await response.json()
    assert response.status == 400
    assert answer["error"]["field"] == field
    assert await order_count() == 0


async def test_orders_need_a_session(client: TestClient) -> None:
    response = await client.post(
        "/api/orders", json={"items": [{"name": "Box", "quantity": 1, "price": 5}]}
    )
    assert response.status == 401


# --- stock ------------------------------------------------------------------------------------


async def test_out_of_stock_is_409_and_changes_nothing(seller_client: TestClient) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=3)

    response = await seller_client.post(
        "/api/orders",
        json={"customerPhone": "998901234567", "items": [{"productId": tea["id"], "quantity": 4}]},
    )
    body = await response.json()

    assert response.status == 409
    assert body["error"]["code"] == "out_of_stock"
    assert body["error"]["details"] == {"productId": tea["id"], "requested": 4, "available": 3}
    assert body["error"]["field"] == "items[0].quantity"
    assert await stock_of(seller_client, tea["id"]) == 3
    assert await order_count() == 0
    assert await Customer.all().count() == 0


async def test_second_line_out_of_stock_rolls_back_the_first_reservation(
    seller_client: TestClient,
) -> None:
    first = await create_product(seller_client, sku="A", stockQuantity=10)
    second = await create_product(seller_client, sku="B", stockQuantity=1)

    response = await seller_client.post(
        "/api/orders",
        json={
            "items": [
                {"productId": first["id"], "quantity": 2},
                {"productId": second["id"], "quantity": 2},
            ]
        },
    )

    assert response.status == 409
    assert await stock_of(seller_client, first["id"]) == 10
    assert await stock_of(seller_client, second["id"]) == 1
    assert await order_count() == 0
    assert await OrderEvent.all().count() == 0


async def test_lines_of_one_product_add_up_against_stock(seller_client: TestClient) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=3)
    line = {"productId": tea["id"], "quantity": 2}

    response = await seller_client.post("/api/orders", json={"items": [line, line]})

    assert response.status == 409
    assert await stock_of(seller_client, tea["id"]) == 3


async def test_selling_the_last_unit_leaves_zero(seller_client: TestClient) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=2)
    await create_order(seller_client, items=[{"productId": tea["id"], "quantity": 2}])
    assert await stock_of(seller_client, tea["id"]) == 0

    again = await seller_client.post(
        "/api/orders", json={"items": [{"productId": tea["id"], "quantity": 1}]}
    )
    assert again.status == 409
    assert await stock_of(seller_client, tea["id"]) == 0


async def test_concurrent_orders_never_oversell(seller_client: TestClient) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=5)

    async def attempt() -> int:
        response = await seller_client.post(
            "/api/orders", json={"items": [{"productId": tea["id"], "quantity": 1}]}
        )
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(attempt() for _ in range(20)))

    assert sorted(statuses) == [201] * 5 + [409] * 15
    assert await stock_of(seller_client, tea["id"]) == 0
    assert await Product.filter(stock__lt=0).count() == 0
    assert await order_count() == 5


async def test_concurrent_orders_of_one_new_customer_make_one_customer(
    seller_client: TestClient,
) -> None:
    async def attempt() -> int:
        response = await seller_client.post(
            "/api/orders",
            json={
                "customerName": "Madina",
                "customerPhone": "998901112233",
                "items": [{"name": "Box", "quantity": 1, "price": 5_000}],
            },
        )
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(attempt() for _ in range(10)))

    assert statuses == [201] * 10
    assert await Customer.filter(phone="998901112233").count() == 1
    assert await Order.filter(customer_phone="998901112233").count() == 10


# --- the status machine -----------------------------------------------------------------------


def test_the_transition_table_is_the_documented_one() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(
    ("current", "target"), EVERY_PAIR, ids=[f"{a}-{b}" for a, b in EVERY_PAIR]
)
async def test_status_transition(
    seller_client: TestClient, current: OrderStatus, target: OrderStatus
) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=10)
    order = await create_order(seller_client, items=[{"productId": tea["id"], "quantity": 4}])
    await walk(seller_client, order["id"], PATHS[current])
    stock_before = await stock_of(seller_client, tea["id"])

    code, body = await set_status(seller_client, order["id"], target, trackingNumber="UZ987654321")

    if (current, target) in ALLOWED:
        assert code == 200, body
        assert body["data"]["status"] == target
        assert body["data"]["history"][-1]["fromStatus"] == current
        assert body["data"]["history"][-1]["toStatus"] == target
    else:
        assert code == 409
        assert body["error"]["code"] == "invalid_status_transition"
        assert body["error"]["details"]["current"] == current
        assert body["error"]["details"]["requested"] == target
        assert body["error"]["details"]["allowed"] == [s for s in S if (current, s) in ALLOWED]
        got = await (await seller_client.get(f"/api/orders/{order['id']}")).json()
        assert got["data"]["status"] == current
        assert len(got["data"]["history"]) == len(PATHS[current]) + 1
        assert await stock_of(seller_client, tea["id"]) == stock_before


@pytest.mark.parametrize("path", [[S.CANCELLED], [S.CONFIRMED, S.CANCELLED]])
async def test_cancelling_restocks(seller_client: TestClient, path: list[OrderStatus]) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=10)
    order = await create_order(
        seller_client,
        items=[
            {"productId": tea["id"], "quantity": 4},
            {"name": "Delivery", "quantity": 1, "price": 20_000},
        ],
    )
    assert await stock_of(seller_client, tea["id"]) == 6

    await walk(seller_client, order["id"], path)

    assert await stock_of(seller_client, tea["id"]) == 10


@pytest.mark.parametrize(
    "path",
    [[S.CONFIRMED, S.SHIPPED, S.RETURNED], [S.CONFIRMED, S.SHIPPED, S.DELIVERED, S.RETURNED]],
)
async def test_returning_restocks(seller_client: TestClient, path: list[OrderStatus]) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=10)
    order = await create_order(seller_client, items=[{"productId": tea["id"], "quantity": 3}])

    await walk(seller_client, order["id"], path[:-1])
    assert await stock_of(seller_client, tea["id"]) == 7
    await walk(seller_client, order["id"], path[-1:])

    assert await stock_of(seller_client, tea["id"]) == 10


async def test_delivering_keeps_the_stock_taken(seller_client: TestClient) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=10)
    order = await create_order(seller_client, items=[{"productId": tea["id"], "quantity": 3}])
    await walk(seller_client, order["id"], PATHS[S.DELIVERED])
    assert await stock_of(seller_client, tea["id"]) == 7


async def test_cancelling_after_the_product_was_deleted_is_fine(
    seller_client: TestClient,
) -> None:
    tea = await create_product(seller_client, sku="TEA", stockQuantity=10)
    order = await create_order(seller_client, items=[{"productId": tea["id"], "quantity": 3}])
    assert (await seller_client.delete(f"/api/products/{tea['id']}")).status == 200

    code, body = await set_status(seller_client, order["id"], "cancelled")

    assert code == 200
    assert body["data"]["items"][0]["productId"] is None
    assert body["data"]["items"][0]["name"] == "Tea"


async def test_shipping_needs_a_tracking_number(seller_client: TestClient) -> None:
    order = await create_order(
        seller_client, items=[{"name": "Box", "quantity": 1, "price": 5_000}]
    )
    await walk(seller_client, order["id"], [S.CONFIRMED])

    code, body = await set_status(seller_client, order["id"], "shipped")
    assert code == 400
    assert body["error"]["field"] == "trackingNumber"

    code, body = await set_status(seller_client, order["id"], "shipped", trackingNumber="  ")
    assert code == 400
    assert body["error"]["field"] == "trackingNumber"

    code, body = await set_status(
        seller_client, order["id"], "shipped", trackingNumber="UZ555000111"
    )
    assert code == 200
    assert body["data"]["trackingNumber"] == "UZ555000111"
    assert body["data"]["history"][-1]["trackingNumber"] == "UZ555000111"


async def test_a_tracking_number_given_earlier_is_enough_to_ship(
    seller_client: TestClient,
) -> None:
    order = await create_order(
        seller_client, items=[{"name": "Box", "quantity": 1, "price": 5_000}]
    )
    await set_status(seller_client, order["id"], "confirmed", trackingNumber="UZ111")
    code, body = await set_status(seller_client, order["id"], "shipped")
    assert code == 200
    assert body["data"]["trackingNumber"] == "UZ111"


async def test_every_change_is_in_the_history_and_the_audit(seller_client: TestClient) -> None:
    order = await create_order(
        seller_client, items=[{"name": "Box", "quantity": 1, "price": 5_000}]
    )
    await set_status(seller_client, order["id"], "confirmed", note="called the customer")
    await set_status(seller_client, order["id"], "shipped", trackingNumber="UZ42")
    await set_status(seller_client, order["id"], "delivered")

    got = await (await seller_client.get(f"/api/orders/{order['id']}")).json()
    history = got["data"]["history"]

    assert [(h["fromStatus"], h["toStatus"]) for h in history] == [
        (None, "new"),
        ("new", "confirmed"),
        ("confirmed", "shipped"),
        ("shipped", "delivered"),
    ]
    assert [h["trackingNumber"] for h in history] == [None, None, "UZ42", None]
    assert history[1]["note"] == "called the customer"
    me = (await (await seller_client.get("/api/user")).json())["data"]
    assert {h["actor"] for h in history} == {f"seller:{me['id']}"}
    audit = await AuditEvent.filter(action="order.status_changed").order_by("id")
    assert [(a.data["old"], a.data["new"]) for a in audit] == [
        ("new", "confirmed"),
        ("confirmed", "shipped"),
        ("shipped", "delivered"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "status"),
        ({"status": "lost"}, "status"),
        ({"status": "confirmed", "trackingNumber": 5}, "trackingNumber"),
        ({"status": "confirmed", "totalAmount": 1}, "totalAmount"),
    ],
)
async def test_invalid_status_body_is_400(
    seller_client: TestClient, body: dict[str, Any], field: str
) -> None:
    order = await create_order(
        seller_client, items=[{"name": "Box", "quantity": 1, "price": 5_000}]
    )
    response = await seller_client.put(f"/api/orders/{order['id']}/status", json=body)
    assert response.status == 400
    assert (await response.json())["error"]["field"] == field


# --- reading ----------------------------------------------------------------------------------


async def test_list_paginates_and_filters_by_status(seller_client: TestClient) -> None:
    ids = []
    for _ in range(5):
        order = await create_order(
            seller_client, items=[{"name": "Box", "quantity": 1, "price": 5_000}]
        )
        ids.append(order["id"])
    await walk(seller_client, ids[1], [S.CONFIRMED])
    await walk(seller_client, ids[3], [S.CONFIRMED])

    page = await (await seller_client.get("/api/orders?limit=2&page=2")).json()
    confirmed = await (await seller_client.get("/api/orders?status=confirmed")).json()
    bad = await seller_client.get("/api/orders?status=lost")

    assert page["pagination"] == {"page": 2, "limit": 2, "total": 5, "pages": 3}
    assert [o["id"] for o in page["data"]] == [ids[2], ids[1]]
    assert [o["id"] for o in confirmed["data"]] == [ids[3], ids[1]]
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "status"


async def test_list_shows_only_own_orders(
    seller_client: TestClient, make_client: MakeClient
) -> None:
    other = await other_seller(make_client)
    await create_order(other, items=[{"name": "Box", "quantity": 1, "price": 5_000}])
    mine = await create_order(
        seller_client, items=[{"name": "Box", "quantity": 1, "price": 5_000}]
    )

    body = await (await seller_client.get("/api/orders")).json()
    assert [o["id"] for o in body["data"]] == [mine["id"]]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "/status", {"status": "cancelled"}),
        ("PUT", "/status", {"status": "confirmed"}),
    ],
)
async def test_another_sellers_order_is_404_like_a_missing_one(
    seller_client: TestClient,
    make_client: MakeClient,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    other = await make_client()
    await register(other, "bob")
    tea = await create_product(other, sku="TEA", stockQuantity=5)
    theirs = await create_order(other, items=[{"productId": tea["id"], "quantity": 2}])

    foreign = await seller_client.request(method, f"/api/orders/{theirs['id']}{suffix}", json=body)
    missing = await seller_client.request(method, f"/api/orders/999999{suffix}", json=body)

    assert foreign.status == missing.status == 404
    assert await foreign.json() == await missing.json()
    after = await (await other.get(f"/api/orders/{theirs['id']}")).json()
    assert after["data"]["status"] == "new"
    assert len(after["data"]["history"]) == 1
    assert await stock_of(other, tea["id"]) == 3

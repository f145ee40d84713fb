"""The order service under concurrency, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core import events
from core.errors import InvalidTransition, NotFound, OutOfStock, ValidationFailed
from core.models import AuditEvent, Customer, Order, OrderEvent, OrderItem, OrderStatus, Product
from core.schemas import (
    CatalogLine,
    FreeLine,
    OrderIn,
    OrderQuery,
    OrderStatusIn,
    ProductIn,
    RegisterIn,
)
from core.services import accounts, orders, products

S = OrderStatus


async def new_seller(username: str = "alice") -> int:
    seller = await accounts.register(RegisterIn(username=username, password="long-password"))
    return seller.id


async def new_product(seller_id: int, sku: str = "TEA", stock: int = 5, price: int = 1_000) -> int:
    product = await products.create(
        seller_id, ProductIn(name=sku.title(), sku=sku, price=price, stock_quantity=stock)
    )
    return product.id


def one_of(product_id: int, quantity: int = 1) -> OrderIn:
    return OrderIn(items=[CatalogLine(product_id=product_id, quantity=quantity)])


async def stock(product_id: int) -> int:
    return (await Product.get(id=product_id)).stock


async def outcome(call: Any) -> str:
    try:
        await call
    except Exception as exc:
        return type(exc).__name__
    return "ok"


async def test_twenty_concurrent_orders_for_five_in_stock(database: None) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5)

    results = await asyncio.gather(
        *(outcome(orders.create(seller_id, one_of(product_id))) for _ in range(20))
    )

    assert sorted(results) == ["OutOfStock"] * 15 + ["ok"] * 5
    assert await stock(product_id) == 0
    assert await Order.filter(seller_id=seller_id).count() == 5
    assert await OrderItem.all().count() == 5
    assert await OrderEvent.all().count() == 5


async def test_crossed_multi_line_orders_neither_deadlock_nor_oversell(database: None) -> None:
    seller_id = await new_seller()
    first = await new_product(seller_id, "A", stock=6)
    second = await new_product(seller_id, "B", stock=6)
    forward = OrderIn(
        items=[
            CatalogLine(product_id=first, quantity=1),
            CatalogLine(product_id=second, quantity=1),
        ]
    )
    backward = OrderIn(
        items=[
            CatalogLine(product_id=second, quantity=1),
            CatalogLine(product_id=first, quantity=1),
        ]
    )

    results = await asyncio.gather(
        *(outcome(orders.create(seller_id, forward if i % 2 else backward)) for i in range(10))
    )

    assert sorted(results) == ["OutOfStock"] * 4 + ["ok"] * 6
    assert (await stock(first), await stock(second)) == (0, 0)


async def test_concurrent_cancels_restock_once(database: None) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5)
    order = await orders.create(seller_id, one_of(product_id, 3))
    cancel = OrderStatusIn(status=S.CANCELLED)

    results = await asyncio.gather(
        *(outcome(orders.change_status(seller_id, order.id, cancel)) for _ in range(5))
    )

    assert sorted(results) == ["InvalidTransition"] * 4 + ["ok"]
    assert await stock(product_id) == 5
    assert await OrderEvent.filter(order_id=order.id, to_status=S.CANCELLED).count() == 1


async def test_the_total_is_computed_from_current_prices(database: None) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5, price=12_500)
    data = OrderIn(
        items=[
            CatalogLine(product_id=product_id, quantity=2),
            FreeLine(name="Delivery", quantity=1, price=15_000),
        ]
    )

    order = await orders.create(seller_id, data)

    assert order.total_amount == 2 * 12_500 + 15_000
    out = await orders.to_out(order)
    assert [(i.name, i.line_total) for i in out.items] == [("Tea", 25_000), ("Delivery", 15_000)]


async def test_a_wrong_total_names_the_expected_one(database: None) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5, price=12_500)
    data = OrderIn(items=[CatalogLine(product_id=product_id, quantity=2)], total_amount=1)

    with pytest.raises(ValidationFailed) as caught:
        await orders.create(seller_id, data)

    assert caught.value.field == "totalAmount"
    assert caught.value.details["expected"] == 25_000
    assert await stock(product_id) == 5


async def test_out_of_stock_on_a_later_line_leaves_no_trace(database: None) -> None:
    seller_id = await new_seller()
    plenty = await new_product(seller_id, "A", stock=50)
    scarce = await new_product(seller_id, "B", stock=1)
    data = OrderIn(
        customer_phone="998901234567",
        items=[
            CatalogLine(product_id=plenty, quantity=5),
            CatalogLine(product_id=scarce, quantity=2),
        ],
    )

    with pytest.raises(OutOfStock):
        await orders.create(seller_id, data)

    assert (await stock(plenty), await stock(scarce)) == (50, 1)
    assert await Order.all().count() == 0
    assert await OrderItem.all().count() == 0
    assert await Customer.all().count() == 0


async def test_a_failing_subscriber_rolls_the_order_back(
    database: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5)

    async def refuse(**payload: Any) -> None:
        raise RuntimeError("outbox is down")

    monkeypatch.setitem(events._subscribers, events.ORDER_CREATED, [refuse])

    with pytest.raises(RuntimeError):
        await orders.create(seller_id, one_of(product_id, 2))

    assert await stock(product_id) == 5
    assert await Order.all().count() == 0


async def test_subscribers_see_the_change_inside_its_transaction(
    database: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5)
    seen: list[tuple[str, str | None, int]] = []

    async def on_created(order: Order, conn: Any) -> None:
        seen.append(
            ("created", None, (await Product.filter(id=product_id).using_db(conn).get()).stock)
        )

    async def on_changed(order: Order, old: OrderStatus, conn: Any) -> None:
        current = await Product.filter(id=product_id).using_db(conn).get()
        seen.append((str(order.status), str(old), current.stock))

    monkeypatch.setitem(events._subscribers, events.ORDER_CREATED, [on_created])
    monkeypatch.setitem(events._subscribers, events.ORDER_STATUS_CHANGED, [on_changed])

    order = await orders.create(seller_id, one_of(product_id, 2))
    await orders.change_status(seller_id, order.id, OrderStatusIn(status=S.CANCELLED))

    assert seen == [("created", None, 3), ("cancelled", "new", 5)]


async def test_another_sellers_order_is_not_found(database: None) -> None:
    alice = await new_seller("alice")
    bob = await new_seller("bob")
    product_id = await new_product(alice, stock=5)
    order = await orders.create(alice, one_of(product_id, 2))

    with pytest.raises(NotFound):
        await orders.get(bob, order.id)
    with pytest.raises(NotFound):
        await orders.change_status(bob, order.id, OrderStatusIn(status=S.CANCELLED))
    with pytest.raises(ValidationFailed) as caught:
        await orders.create(bob, one_of(product_id))

    assert caught.value.field == "items[0].productId"
    assert (await Order.get(id=order.id)).status == S.NEW
    assert await stock(product_id) == 3


async def test_a_refused_transition_writes_nothing(database: None) -> None:
    seller_id = await new_seller()
    product_id = await new_product(seller_id, stock=5)
    order = await orders.create(seller_id, one_of(product_id, 2))
    audits = await AuditEvent.all().count()

    with pytest.raises(InvalidTransition):
        await orders.change_status(seller_id, order.id, OrderStatusIn(status=S.DELIVERED))

    assert await OrderEvent.filter(order_id=order.id).count() == 1
    assert await AuditEvent.all().count() == audits
    assert await stock(product_id) == 3


async def test_a_new_customer_is_created_once_and_named_by_the_latest_order(
    database: None,
) -> None:
    seller_id = await new_seller()
    line = FreeLine(name="Box", quantity=1, price=5_000)

    first = await orders.create(
        seller_id, OrderIn(customer_name="Aziz", customer_phone="90 123 45 67", items=[line])
    )
    second = await orders.create(
        seller_id,
        OrderIn(customer_name="Aziz Karimov", customer_phone="+998901234567", items=[line]),
    )

    customer = await Customer.get(seller_id=seller_id)
    assert first.customer_id == second.customer_id == customer.id
    assert customer.name == "Aziz Karimov"


async def test_a_page_of_orders_carries_each_orders_own_lines_and_history(database: None) -> None:
    seller_id = await new_seller()
    tea = await new_product(seller_id, "TEA", stock=10, price=1_000)
    cup = await new_product(seller_id, "CUP", stock=10, price=2_500)
    first = await orders.create(seller_id, one_of(tea, 2))
    second = await orders.create(
        seller_id,
        OrderIn(
            items=[
                CatalogLine(product_id=cup, quantity=1),
                FreeLine(name="Delivery", quantity=1, price=15_000),
            ]
        ),
    )
    third = await orders.create(seller_id, one_of(cup, 3))
    await orders.change_status(seller_id, second.id, OrderStatusIn(status=S.CONFIRMED))

    page_one, pagination = await orders.list_page(seller_id, OrderQuery(page=1, limit=2))
    out = await orders.to_out_many(page_one)

    assert [o.id for o in out] == [third.id, second.id]
    assert pagination.total == 3 and pagination.pages == 2
    assert [(i.sku, i.quantity, i.line_total) for i in out[0].items] == [("CUP", 3, 7_500)]
    assert [(i.name, i.line_total) for i in out[1].items] == [("Cup", 2_500), ("Delivery", 15_000)]
    assert [e.to_status for e in out[1].history] == [S.NEW, S.CONFIRMED]
    assert [e.to_status for e in out[0].history] == [S.NEW]
    assert out[1].total_amount == 17_500
    # The last page counts without a second query; a page past the end still counts.
    page_two, pagination = await orders.list_page(seller_id, OrderQuery(page=2, limit=2))
    assert [o.id for o in page_two] == [first.id] and pagination.total == 3
    beyond, pagination = await orders.list_page(seller_id, OrderQuery(page=5, limit=2))
    assert beyond == [] and pagination.total == 3
    assert await orders.to_out_many([]) == []

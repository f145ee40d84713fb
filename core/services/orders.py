"""Orders: server-computed totals, atomic stock reservation and the status machine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.functions import Count

from core import db, events
from core.errors import (
    AmountMismatch,
    InvalidTransition,
    NotFound,
    OutOfStock,
    UnknownReference,
    ValidationFailed,
)
from core.models import Order, OrderEvent, OrderItem, OrderStatus, Product
from core.schemas import (
    CatalogLine,
    OrderEventOut,
    OrderIn,
    OrderItemOut,
    OrderOut,
    OrderQuery,
    OrderStatusIn,
    Pagination,
    paginate,
)
from core.services import audit, customers

log = logging.getLogger(__name__)

S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset({S.RETURNED}),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}
# Leaving for these states puts the reserved goods back on the shelf.
RESTOCKING = frozenset({S.CANCELLED, S.RETURNED})


def allowed_next(status: OrderStatus) -> list[OrderStatus]:
    return sorted(TRANSITIONS[status], key=list(OrderStatus).index)


def check_transition(old: OrderStatus, new: OrderStatus) -> None:
    """Raise `InvalidTransition` unless the status machine allows `old` -> `new`."""
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(
            f"an order cannot go from {old} to {new}",
            current=str(old),
            requested=str(new),
            allowed=[str(s) for s in allowed_next(old)],
        )


@dataclass(slots=True)
class _Line:
    product_id: int | None
    name: str
    sku: str | None
    quantity: int
    unit_price: int

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


async def _resolve_lines(seller_id: int, data: OrderIn) -> list[_Line]:
    wanted = {line.product_id for line in data.items if isinstance(line, CatalogLine)}
    products = {p.id: p for p in await Product.filter(seller_id=seller_id, id__in=list(wanted))}
    lines = []
    for index, line in enumerate(data.items):
        if isinstance(line, CatalogLine):
            product = products.get(line.product_id)
            if product is None:
                raise UnknownReference(f"items[{index}].productId", "product not found")
            lines.append(
                _Line(product.id, product.name, product.sku, line.quantity, product.price)
            )
        else:
            lines.append(_Line(None, line.name, None, line.quantity, line.price))
    return lines


async def _reserve(seller_id: int, lines: list[_Line], conn: BaseDBAsyncClient) -> None:
    """Take stock for catalog lines; a conditional update never lets stock go below zero."""
    needed: dict[int, int] = {}
    for line in lines:
        if line.product_id is not None:
            needed[line.product_id] = needed.get(line.product_id, 0) + line.quantity
    for product_id, quantity in sorted(needed.items()):
        taken = (
            await Product.filter(id=product_id, seller_id=seller_id, stock__gte=quantity)
            .using_db(conn)
            .update(stock=F("stock") - quantity)
        )
        if not taken:
            first = next(i for i, line in enumerate(lines) if line.product_id == product_id)
            available = (
                await Product.filter(id=product_id).using_db(conn).values_list("stock", flat=True)
            )
            raise OutOfStock(
                "not enough stock",
                field=f"items[{first}].quantity",
                product_id=product_id,
                requested=quantity,
                available=available[0] if available else 0,
            )


async def _restock(order: Order, conn: BaseDBAsyncClient) -> None:
    items = await OrderItem.filter(order_id=order.id, product_id__not_isnull=True).using_db(conn)
    for item in items:
        await (
            Product.filter(id=item.product_id, seller_id=order.seller_id)
            .using_db(conn)
            .update(stock=F("stock") + item.quantity)
        )


async def create(seller_id: int, data: OrderIn, *, actor: str | None = None) -> Order:
    """Create an order: compute the total, reserve stock and record history in one go."""
    lines = await _resolve_lines(seller_id, data)
    total = sum(line.total for line in lines)
    if data.total_amount is not None and data.total_amount != total:
        raise AmountMismatch(
            "totalAmount",
            f"totalAmount does not match the items: expected {total}",
            expected=total,
        )
    actor = actor or f"seller:{seller_id}"
    async with db.atomic() as conn:
        customer = None
        if data.customer_phone:
            customer = await customers.upsert_by_phone(
                seller_id, data.customer_phone, data.customer_name, using_db=conn
            )
        await _reserve(seller_id, lines, conn)
        order = await Order.create(
            seller_id=seller_id,
            customer=customer,
            customer_name=data.customer_name,
            customer_phone=customer.phone if customer else None,
            delivery_address=data.delivery_address,
            notes=data.notes,
            total_amount=total,
            using_db=conn,
        )
        await OrderItem.bulk_create(
            [
                OrderItem(
                    order_id=order.id,
                    product_id=line.product_id,
                    name=line.name,
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    line_total=line.total,
                )
                for line in lines
            ],
            using_db=conn,
        )
        await OrderEvent.create(
            order_id=order.id, from_status=None, to_status=S.NEW, actor=actor, using_db=conn
        )
        await events.emit(events.ORDER_CREATED, order=order, conn=conn)
    log.info("order created id=%s seller=%s total=%s", order.id, seller_id, total)
    return order


async def get(seller_id: int, order_id: int) -> Order:
    order = await Order.get_or_none(id=order_id, seller_id=seller_id)
    if order is None:
        raise NotFound("order not found")
    return order


async def count_by_status(seller_id: int) -> dict[OrderStatus, int]:
    """How many orders the seller has in each status (every status present, zeros too)."""
    rows = (
        await Order.filter(seller_id=seller_id)
        .annotate(count=Count("id"))
        .group_by("status")
        .values_list("status", "count")
    )
    found = {OrderStatus(status): int(count) for status, count in rows}
    return {status: found.get(status, 0) for status in OrderStatus}


async def list_page(seller_id: int, query: OrderQuery) -> tuple[list[Order], Pagination]:
    qs = Order.filter(seller_id=seller_id)
    if query.status is not None:
        qs = qs.filter(status=query.status)
    offset = (query.page - 1) * query.limit
    orders = await qs.order_by("-id").offset(offset).limit(query.limit).all()
    if 0 < len(orders) < query.limit or (offset == 0 and not orders):
        total = offset + len(orders)  # the last page: no need to count
    else:
        total = await qs.count()
    return orders, paginate(query.page, query.limit, total)


async def change_status(
    seller_id: int, order_id: int, change: OrderStatusIn, *, actor: str | None = None
) -> Order:
    """Move an order along the status machine; cancelling or returning restocks it."""
    actor = actor or f"seller:{seller_id}"
    async with db.atomic() as conn:
        order = (
            await Order.filter(id=order_id, seller_id=seller_id)
            .using_db(conn)
            .select_for_update()
            .first()
        )
        if order is None:
            raise NotFound("order not found")
        old = order.status
        new = change.status
        check_transition(old, new)
        if new is S.SHIPPED and not (change.tracking_number or order.tracking_number):
            raise ValidationFailed("trackingNumber", "a shipped order needs a tracking number")
        if new in RESTOCKING:
            await _restock(order, conn)
        order.status = new
        if change.tracking_number:
            order.tracking_number = change.tracking_number
        await order.save(update_fields=["status", "tracking_number", "updated_at"], using_db=conn)
        await OrderEvent.create(
            order_id=order.id,
            from_status=old,
            to_status=new,
            tracking_number=change.tracking_number,
            actor=actor,
            note=change.note,
            using_db=conn,
        )
        await audit.record(
            "order.status_changed",
            actor=actor,
            object_type="order",
            object_id=order.id,
            seller_id=seller_id,
            using_db=conn,
            old=str(old),
            new=str(new),
        )
        await events.emit(events.ORDER_STATUS_CHANGED, order=order, old=old, conn=conn)
    log.info("order status id=%s %s->%s", order.id, old, new)
    return order


async def to_out(order: Order) -> OrderOut:
    return (await to_out_many([order]))[0]


async def to_out_many(orders: list[Order]) -> list[OrderOut]:
    """The answers for a page of orders: their lines and history in two queries in all."""
    if not orders:
        return []
    ids = [order.id for order in orders]
    lines: dict[int, list[OrderItemOut]] = {order_id: [] for order_id in ids}
    history: dict[int, list[OrderEventOut]] = {order_id: [] for order_id in ids}
    for item in await OrderItem.filter(order_id__in=ids).order_by("id"):
        lines[item.order_id].append(
            OrderItemOut(
                id=item.id,
                product_id=item.product_id,
                name=item.name,
                sku=item.sku,
                quantity=item.quantity,
                unit_price=item.unit_price,
                line_total=item.line_total,
            )
        )
    for event in await OrderEvent.filter(order_id__in=ids).order_by("id"):
        history[event.order_id].append(
            OrderEventOut(
                from_status=event.from_status,
                to_status=event.to_status,
                tracking_number=event.tracking_number,
                actor=event.actor,
                note=event.note,
                created_at=event.created_at,
            )
        )
    return [
        OrderOut(
            id=order.id,
            status=order.status,
            customer_id=order.customer_id,
            customer_name=order.customer_name,
            customer_phone=order.customer_phone,
            delivery_address=order.delivery_address,
            notes=order.notes,
            total_amount=order.total_amount,
            tracking_number=order.tracking_number,
            items=lines[order.id],
            history=history[order.id],
            created_at=order.created_at,
            updated_at=order.updated_at,
        )
        for order in orders
    ]

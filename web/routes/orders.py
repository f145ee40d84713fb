"""Orders over REST: `/api/orders`."""

from __future__ import annotations

from aiohttp import web

from core.schemas import OrderIn, OrderOut, OrderQuery, OrderStatusIn
from core.services import orders
from web.api import Api
from web.auth import current_seller_id, int_param
from web.responses import ok, page

api = Api()


@api.post(
    "/api/orders",
    body=OrderIn,
    response=OrderOut,
    status=201,
    tag="orders",
    extra_responses={409: "not enough stock, or totalAmount differs from the items' total"},
)
async def create_order(request: web.Request, body: OrderIn) -> web.Response:
    """Create an order; the server computes the total and reserves stock."""
    order = await orders.create(await current_seller_id(request), body)
    return ok(await orders.to_out(order), status=201)


@api.get("/api/orders", query=OrderQuery, response=OrderOut, many=True, tag="orders")
async def list_orders(request: web.Request, query: OrderQuery) -> web.Response:
    """List orders, newest first, optionally of one status."""
    items, pagination = await orders.list_page(await current_seller_id(request), query)
    return page(await orders.to_out_many(items), pagination)


@api.get("/api/orders/{id}", response=OrderOut, tag="orders")
async def get_order(request: web.Request) -> web.Response:
    """One order with its lines and history."""
    order = await orders.get(await current_seller_id(request), int_param(request))
    return ok(await orders.to_out(order))


@api.put(
    "/api/orders/{id}/status",
    body=OrderStatusIn,
    response=OrderOut,
    tag="orders",
    extra_responses={409: "transition not allowed"},
)
async def change_status(request: web.Request, body: OrderStatusIn) -> web.Response:
    """Move an order to its next status (with a tracking number when shipping)."""
    seller_id = await current_seller_id(request)
    order = await orders.change_status(seller_id, int_param(request), body)
    return ok(await orders.to_out(order))

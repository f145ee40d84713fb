"""A seller's customers over REST: `/api/customers`, their invite links and consent."""

from __future__ import annotations

from aiohttp import web

from core.schemas_notifications import (
    CustomerIn,
    CustomerOut,
    CustomerQuery,
    CustomerUpdate,
    InviteOut,
)
from core.services import audience
from web.api import Api
from web.auth import current_seller, int_param
from web.responses import ok, page

api = Api()
TAG = "customers"
ITEM = r"/api/customers/{id:[0-9]+}"


@api.get("/api/customers", query=CustomerQuery, response=CustomerOut, many=True, tag=TAG)
async def list_customers(request: web.Request, query: CustomerQuery) -> web.Response:
    """Customers, newest first; search by name or phone, filter by consent or Telegram."""
    seller = await current_seller(request)
    rows, pagination = await audience.list_page(seller.id, query)
    return page([audience.to_out(seller, row) for row in rows], pagination)


@api.post(
    "/api/customers",
    body=CustomerIn,
    response=CustomerOut,
    status=201,
    tag=TAG,
    extra_responses={409: "a customer with this phone exists"},
)
async def create_customer(request: web.Request, body: CustomerIn) -> web.Response:
    """Add a customer (marketingConsent: they agreed to receive offers)."""
    seller = await current_seller(request)
    customer = await audience.create(seller.id, body)
    link = await audience.customer_link(seller.id, customer.id)
    return ok(audience.to_out(seller, customer, link), status=201)


@api.get("/api/customers/invite-link", response=InviteOut, tag=TAG)
async def invite_link(request: web.Request) -> web.Response:
    """The seller's bot link for customers: whoever opens it gets order news on Telegram."""
    seller = await current_seller(request)
    return ok(InviteOut(deep_link=await audience.seller_link(seller.id)))


@api.get(ITEM, response=CustomerOut, tag=TAG)
async def get_customer(request: web.Request) -> web.Response:
    """One customer, with their personal bot link."""
    seller = await current_seller(request)
    customer = await audience.get(seller.id, int_param(request))
    link = await audience.customer_link(seller.id, customer.id)
    return ok(audience.to_out(seller, customer, link))


@api.put(ITEM, body=CustomerUpdate, response=CustomerOut, tag=TAG)
async def update_customer(request: web.Request, body: CustomerUpdate) -> web.Response:
    """Change a customer's name, language or marketing consent."""
    seller = await current_seller(request)
    customer = await audience.update(seller.id, int_param(request), body)
    return ok(audience.to_out(seller, customer))

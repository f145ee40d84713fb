"""The catalog over REST: `/api/products`."""

from __future__ import annotations

from aiohttp import web

from core.schemas import ProductIn, ProductOut, ProductQuery, ProductUpdate
from core.services import products
from web.api import Api
from web.auth import current_seller_id, int_param
from web.responses import ok, page

api = Api()
ITEM = r"/api/products/{id}"


@api.post(
    "/api/products",
    body=ProductIn,
    response=ProductOut,
    status=201,
    tag="products",
    extra_responses={409: "SKU already used by this seller"},
)
async def create_product(request: web.Request, body: ProductIn) -> web.Response:
    """Add a product to the catalog."""
    product = await products.create(await current_seller_id(request), body)
    return ok(products.to_out(product), status=201)


@api.get("/api/products", query=ProductQuery, response=ProductOut, many=True, tag="products")
async def list_products(request: web.Request, query: ProductQuery) -> web.Response:
    """List products, newest first, with search (name or SKU) and a category filter."""
    items, pagination = await products.list_rows(await current_seller_id(request), query)
    return page(items, pagination)


@api.get(ITEM, response=ProductOut, tag="products")
async def get_product(request: web.Request) -> web.Response:
    """One product."""
    product = await products.get(await current_seller_id(request), int_param(request))
    return ok(products.to_out(product))


@api.put(ITEM, body=ProductUpdate, response=ProductOut, tag="products")
async def update_product(request: web.Request, body: ProductUpdate) -> web.Response:
    """Change some fields of a product."""
    seller_id = await current_seller_id(request)
    product = await products.update(seller_id, int_param(request), body)
    return ok(products.to_out(product))


@api.delete(ITEM, tag="products")
async def delete_product(request: web.Request) -> web.Response:
    """Delete a product (past orders keep their lines)."""
    await products.delete(await current_seller_id(request), int_param(request))
    return ok()

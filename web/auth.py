"""Who is asking: the seller behind the session cookie, loaded once per request."""

from __future__ import annotations

from aiohttp import web

from core.errors import Forbidden, NotAuthenticated, NotFound
from core.models import Seller
from core.services import accounts
from web import sessions

SELLER = web.RequestKey("scx.seller", Seller)


async def current_seller_id(request: web.Request) -> int:
    # Through the seller row, so a deactivated or deleted account's session stops at once.
    return (await current_seller(request)).id


async def current_seller(request: web.Request) -> Seller:
    seller = request.get(SELLER)
    if seller is not None:
        return seller
    seller_id = await sessions.require_seller_id(request)
    try:
        seller = await accounts.active_seller(seller_id)
    except NotFound:
        await sessions.logout(request)
        raise NotAuthenticated("the account no longer exists") from None
    request[SELLER] = seller
    return seller


async def require_admin(request: web.Request) -> Seller:
    seller = await current_seller(request)
    if not seller.is_admin:
        raise Forbidden("administrators only")
    return seller


def int_param(request: web.Request, name: str = "id") -> int:
    """A numeric path parameter; anything else is simply not found."""
    raw = request.match_info.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound("not found")
    return int(raw)

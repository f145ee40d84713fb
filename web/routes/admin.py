"""Administration over REST: `/api/admin/...`, for administrators only (403 to sellers)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints

from core.models import Seller
from core.plans import PLANS
from core.schemas import ApiModel, Out, paginate
from core.services import accounts
from web.api import Api
from web.auth import int_param, require_admin
from web.responses import ok, page

api = Api()

PlanTier = StrEnum("PlanTier", {tier: tier for tier in PLANS})  # type: ignore[misc]


class SellerQuery(ApiModel):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""


class PlanIn(ApiModel):
    plan: PlanTier
    expires_at: AwareDatetime | None = None


class AdminSellerOut(Out):
    """What an administrator sees of a seller: never the password hash or the admin flag."""

    id: int
    username: str
    full_name: str
    telegram_linked: bool
    plan: str
    plan_expires_at: datetime | None
    is_active: bool
    created_at: datetime


def to_admin_out(seller: Seller) -> AdminSellerOut:
    return AdminSellerOut(
        id=seller.id,
        username=seller.username,
        full_name=seller.full_name,
        telegram_linked=seller.telegram_id is not None,
        plan=seller.plan,
        plan_expires_at=seller.plan_expires_at,
        is_active=seller.is_active,
        created_at=seller.created_at,
    )


@api.get(
    "/api/admin/sellers",
    query=SellerQuery,
    response=AdminSellerOut,
    many=True,
    tag="admin",
    admin=True,
)
async def list_sellers(request: web.Request, query: SellerQuery) -> web.Response:
    """Every seller, newest first, optionally matching part of a username."""
    items, total = await accounts.list_sellers(query.page, query.limit, query.search)
    return page([to_admin_out(s) for s in items], paginate(query.page, query.limit, total))


@api.put(
    "/api/admin/sellers/{id}/plan",
    body=PlanIn,
    response=AdminSellerOut,
    tag="admin",
    admin=True,
)
async def set_plan(request: web.Request, body: PlanIn) -> web.Response:
    """Grant a seller a plan, with an optional expiry (a free plan never expires)."""
    admin = await require_admin(request)
    seller_id = int_param(request)
    seller = await accounts.set_plan(admin, seller_id, body.plan.value, body.expires_at)
    return ok(to_admin_out(seller))

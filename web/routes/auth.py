"""Accounts: register, log in and out, the current user and their password."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from core.models import CustomerChannel, Language
from core.phones import normalise_phone
from core.schemas import (
    ApiModel,
    ChangePasswordIn,
    LoginIn,
    Phone,
    RegisterIn,
    SellerOut,
    UserOut,
)
from core.services import accounts
from web import sessions
from web.api import Api
from web.auth import current_seller
from web.responses import ok
from web.security import client_address

api = Api()


class LogoutIn(ApiModel):
    everywhere: bool = False


class UserUpdate(ApiModel):
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] | None = (
        None
    )
    phone: Phone | None = None
    language: Language | None = None
    customer_channel: CustomerChannel | None = None


@api.post(
    "/api/register",
    body=RegisterIn,
    response=SellerOut,
    status=201,
    tag="auth",
    auth=False,
    extra_responses={409: "username taken"},
)
async def register(request: web.Request, body: RegisterIn) -> web.Response:
    """Create a seller account and log in."""
    seller = await accounts.register(body, address=client_address(request))
    await sessions.login(request, seller.id)
    return ok(accounts.to_out(seller), status=201)


@api.post("/api/login", body=LoginIn, response=SellerOut, tag="auth", auth=False)
async def login(request: web.Request, body: LoginIn) -> web.Response:
    """Log in with username and password; the session cookie is issued anew."""
    seller = await accounts.authenticate(
        body.username, body.password, address=client_address(request)
    )
    await sessions.login(request, seller.id)
    return ok(accounts.to_out(seller))


@api.post("/api/logout", tag="auth", auth=False)
async def logout(request: web.Request) -> web.Response:
    """End this session (or, with {"everywhere": true}, every session of the seller)."""
    everywhere = False
    if await request.read():
        from web.api import parse_model, read_json

        everywhere = parse_model(LogoutIn, await read_json(request)).everywhere
    await sessions.logout(request, everywhere=everywhere)
    return ok()


@api.get("/api/user", response=UserOut, tag="auth")
async def user(request: web.Request) -> web.Response:
    """The logged-in seller, with a one-time code for linking Telegram when not linked."""
    seller = await current_seller(request)
    out = UserOut(**accounts.to_out(seller).model_dump())
    if seller.telegram_id is None:
        out.telegram_link_code = await accounts.link_code(seller)
    return ok(out)


@api.put("/api/user", body=UserUpdate, response=SellerOut, tag="auth")
async def update_user(request: web.Request, body: UserUpdate) -> web.Response:
    """Change the seller's name, phone, language or customer channel."""
    seller = await current_seller(request)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "phone" in changes:
        changes["phone"] = normalise_phone(changes["phone"])
    if changes:
        seller.update_from_dict(changes)
        await seller.save(update_fields=[*changes, "updated_at"])
    return ok(accounts.to_out(seller))


@api.put("/api/user/password", body=ChangePasswordIn, tag="auth")
async def change_password(request: web.Request, body: ChangePasswordIn) -> web.Response:
    """Change the password; other sessions end unless logoutOtherSessions is false."""
    seller = await current_seller(request)
    await accounts.change_password(
        seller, body.current_password, body.new_password, address=client_address(request)
    )
    ended = 0
    if body.logout_other_sessions:
        ended = await sessions.end_other_sessions(request, seller.id)
    await sessions.login(request, seller.id)
    return ok({"endedSessions": ended})

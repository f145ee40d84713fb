"""Seller accounts: registration, credentials, Telegram linking, language."""

from __future__ import annotations

import copy
import logging
import secrets
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.signals import post_delete, post_save

from core import db
from core.errors import (
    Conflict,
    InvalidCredentials,
    NotFound,
    UnknownReference,
    ValidationFailed,
)
from core.i18n import pick_language
from core.models import Seller, TelegramLinkCode
from core.passwords import hash_password, verify_password
from core.phones import normalise_phone
from core.plans import effective_plan, get_plan
from core.schemas import RegisterIn, SellerOut
from core.services import audit, throttle
from core.settings import get_settings

log = logging.getLogger(__name__)

LINK_CODE_TTL = timedelta(minutes=15)
_CODE_ALPHABET = string.ascii_uppercase + string.digits


def _new_code(length: int) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def now() -> datetime:
    return datetime.now(UTC)


def to_out(seller: Seller) -> SellerOut:
    # The plan in force: one past its expiry is `free` already, before the job records it.
    in_force = effective_plan(seller.plan, seller.plan_expires_at)
    return SellerOut(
        id=seller.id,
        username=seller.username,
        full_name=seller.full_name,
        phone=seller.phone,
        telegram_linked=seller.telegram_id is not None,
        language=seller.language,
        plan=in_force.tier,
        plan_expires_at=seller.plan_expires_at if in_force.tier == seller.plan else None,
        referral_code=seller.referral_code,
        created_at=seller.created_at,
    )


async def _referrer(code: str | None) -> Seller | None:
    if not code:
        return None
    referrer = await Seller.get_or_none(referral_code=code.strip().upper())
    if referrer is None:
        raise UnknownReference("referralCode", "referral code is unknown")
    return referrer


async def register(
    data: RegisterIn, *, telegram_id: int | None = None, address: str | None = None
) -> Seller:
    """Create a seller; the username is case-insensitive and unique.

    From the web, `address` caps how many accounts one client may open in an hour (before
    any hash is computed): accounts are free, and so is a farm of them without a cap.
    """
    if address is not None:
        per_hour = get_settings().registrations_per_address_per_hour
        await throttle.hit(f"register:{throttle.digest(address)}", per_hour, throttle.HOUR)
    username = data.username.lower()
    phone = normalise_phone(data.phone) if data.phone else None
    referrer = await _referrer(data.referral_code)
    password_hash = await hash_password(data.password)
    try:
        async with db.atomic() as conn:
            seller = await Seller.create(
                username=username,
                password_hash=password_hash,
                full_name=data.full_name,
                phone=phone,
                telegram_id=telegram_id,
                language=pick_language(data.language),
                referral_code=_new_code(8),
                referred_by=referrer,
                campaign=data.campaign,
                using_db=conn,
            )
            await audit.record(
                "seller.registered",
                actor=f"seller:{seller.id}",
                object_type="seller",
                object_id=seller.id,
                seller_id=seller.id,
                using_db=conn,
            )
    except IntegrityError:
        raise Conflict("username is already taken", field="username") from None
    log.info("seller registered id=%s", seller.id)
    return seller


async def register_from_telegram(telegram_id: int, full_name: str, language: str) -> Seller:
    """A seller who starts in the bot: no password until they set one."""
    existing = await Seller.get_or_none(telegram_id=telegram_id)
    if existing is not None:
        return existing
    async with db.atomic() as conn:
        seller = await Seller.create(
            username=f"tg{telegram_id}",
            password_hash=None,
            full_name=full_name[:128],
            telegram_id=telegram_id,
            language=pick_language(language),
            referral_code=_new_code(8),
            using_db=conn,
        )
        await audit.record(
            "seller.registered",
            actor=f"telegram:{telegram_id}",
            object_type="seller",
            object_id=seller.id,
            seller_id=seller.id,
            using_db=conn,
            via="telegram",
        )
    return seller


async def authenticate(username: str, password: str, *, address: str = "unknown") -> Seller:
    """The seller with these credentials; one hash is spent whether or not the user exists.

    `address` is where the attempt comes from (a client address, `telegram:<id>`): failures
    are throttled per account and per address before any hash is computed.
    """
    await throttle.login_attempt(username, address)
    seller = await Seller.get_or_none(username=username.strip().lower(), is_active=True)
    stored = seller.password_hash if seller else None
    if not await verify_password(stored, password) or seller is None:
        await throttle.login_failed(username, address)
        raise InvalidCredentials("invalid username or password")
    await throttle.login_succeeded(username, address)
    return seller


class _ActiveSellers:
    """Active sellers this process read, by id, for `Settings.account_cache_ttl` seconds.

    Every request of the REST API reads its seller (the plan sets the rate limit, a
    deactivated account must stop at once); on SQLite that read was a third of the cost of
    listing 50 products (bench/api.py). Saves and deletes of a seller in this process
    forget it at once (the model's signals); `forget()` is for bulk updates. Callers get a
    copy, so a handler that changes its seller never changes the cached one.
    """

    def __init__(self) -> None:
        self._rows: dict[int, tuple[float, Seller]] = {}

    def get(self, seller_id: int) -> Seller | None:
        found = self._rows.get(seller_id)
        if found is None:
            return None
        if found[0] < time.monotonic():
            self._rows.pop(seller_id, None)
            return None
        return copy.copy(found[1])

    def put(self, seller: Seller, ttl: float) -> None:
        if ttl <= 0:
            return
        if len(self._rows) >= _CACHE_SIZE:
            self._rows.clear()
        self._rows[seller.id] = (time.monotonic() + ttl, copy.copy(seller))

    def forget(self, seller_id: int | None = None) -> None:
        if seller_id is None:
            self._rows.clear()
        else:
            self._rows.pop(seller_id, None)


_CACHE_SIZE = 10_000
_active = _ActiveSellers()
forget = _active.forget


@post_save(Seller)
async def _saved(
    sender: type[Seller], instance: Seller, created: bool, using_db: Any, fields: Any
) -> None:
    _active.forget(instance.id)


@post_delete(Seller)
async def _deleted(sender: type[Seller], instance: Seller, using_db: Any) -> None:
    _active.forget(instance.id)


async def active_seller(seller_id: int) -> Seller:
    """The active seller with this id, from this process's short cache when it has it."""
    seller = _active.get(seller_id)
    if seller is None:
        seller = await get_seller(seller_id)
        _active.put(seller, get_settings().account_cache_ttl)
    return seller


async def get_seller(seller_id: int) -> Seller:
    seller = await Seller.get_or_none(id=seller_id, is_active=True)
    if seller is None:
        raise NotFound("seller not found")
    return seller


async def by_telegram(telegram_id: int) -> Seller | None:
    return await Seller.get_or_none(telegram_id=telegram_id, is_active=True)


async def set_language(seller: Seller, language: str) -> Seller:
    seller.language = pick_language(language)  # type: ignore[assignment]
    await seller.save(update_fields=["language", "updated_at"])
    return seller


async def change_password(
    seller: Seller, current: str, new: str, *, address: str = "unknown"
) -> None:
    """Replace the password; the current one is checked under the login throttle."""
    await throttle.login_attempt(seller.username, address)
    if not await verify_password(seller.password_hash, current):
        await throttle.login_failed(seller.username, address)
        raise InvalidCredentials("current password is wrong")
    await throttle.login_succeeded(seller.username, address)
    await _store_password(seller, new, "seller.password_changed", f"seller:{seller.id}")


async def set_password(seller: Seller, new: str, *, actor: str) -> None:
    """Set the password from a channel that already proves who the seller is (the bot)."""
    await _store_password(seller, new, "seller.password_set", actor)


async def _store_password(seller: Seller, new: str, action: str, actor: str) -> None:
    """Hash and save a new password, audited in the same transaction."""
    seller.password_hash = await hash_password(new)
    seller.password_changed_at = now()
    async with db.atomic() as conn:
        await seller.save(
            update_fields=["password_hash", "password_changed_at", "updated_at"], using_db=conn
        )
        await audit.record(
            action,
            actor=actor,
            object_type="seller",
            object_id=seller.id,
            seller_id=seller.id,
            using_db=conn,
        )


async def link_code(seller: Seller) -> str:
    """A one-time code for linking Telegram, valid for at least half of LINK_CODE_TTL.

    The same code is shown again while it is fresh (so that a page reloaded, or open twice,
    shows one code that works); a code past half its life is replaced.
    """
    fresh = (
        await TelegramLinkCode.filter(
            seller_id=seller.id, used_at=None, expires_at__gt=now() + LINK_CODE_TTL / 2
        )
        .order_by("-id")
        .first()
    )
    if fresh is not None:
        return fresh.code
    await TelegramLinkCode.filter(seller=seller, used_at=None).delete()
    code = _new_code(8)
    await TelegramLinkCode.create(code=code, seller=seller, expires_at=now() + LINK_CODE_TTL)
    return code


async def _attach_telegram(seller: Seller, telegram_id: int, how: str) -> Seller:
    async with db.atomic() as conn:
        # A Telegram account belongs to one seller: detach it from a bot-only account first.
        await (
            Seller.filter(telegram_id=telegram_id)
            .exclude(id=seller.id)
            .using_db(conn)
            .update(telegram_id=None)
        )
        forget()  # the detached accounts
        seller.telegram_id = telegram_id
        await seller.save(update_fields=["telegram_id", "updated_at"], using_db=conn)
        await audit.record(
            "seller.telegram_linked",
            actor=f"telegram:{telegram_id}",
            object_type="seller",
            object_id=seller.id,
            seller_id=seller.id,
            using_db=conn,
            how=how,
        )
    return seller


async def link_by_code(code: str, telegram_id: int) -> Seller:
    async with db.atomic() as conn:
        updated = (
            await TelegramLinkCode.filter(
                code=code.strip().upper(), used_at=None, expires_at__gt=now()
            )
            .using_db(conn)
            .update(used_at=now())
        )
        if not updated:
            raise NotFound("link code is unknown or expired")
        entry = await TelegramLinkCode.filter(code=code.strip().upper()).using_db(conn).get()
    seller = await get_seller(entry.seller_id)
    return await _attach_telegram(seller, telegram_id, "code")


async def link_by_password(username: str, password: str, telegram_id: int) -> Seller:
    seller = await authenticate(username, password, address=f"telegram:{telegram_id}")
    return await _attach_telegram(seller, telegram_id, "password")


# --- administration -------------------------------------------------------------------------


async def list_sellers(page: int, limit: int, search: str = "") -> tuple[list[Seller], int]:
    """Sellers for the admin console, newest first, optionally matching a username part."""
    qs = Seller.all()
    if search:
        qs = qs.filter(username__icontains=search.strip().lower())
    total = await qs.count()
    items = await qs.order_by("-id").offset((page - 1) * limit).limit(limit)
    return list(items), total


async def set_plan(
    admin: Seller, seller_id: int, tier: str, expires_at: datetime | None
) -> Seller:
    """An administrator grants a plan (free clears the expiry); the change is audited."""
    plan = get_plan(tier)
    if plan.monthly_price and expires_at is not None and expires_at <= now():
        raise ValidationFailed("expiresAt", "the expiry must be in the future")
    seller = await Seller.get_or_none(id=seller_id)
    if seller is None:
        raise NotFound("seller not found")
    previous = seller.plan
    seller.plan = plan.tier
    seller.plan_expires_at = None if plan.monthly_price == 0 else expires_at
    async with db.atomic() as conn:
        await seller.save(update_fields=["plan", "plan_expires_at", "updated_at"], using_db=conn)
        await audit.record(
            "seller.plan_set",
            actor=f"admin:{admin.id}",
            object_type="seller",
            object_id=seller.id,
            seller_id=seller.id,
            using_db=conn,
            previous=previous,
            plan=plan.tier,
            expires_at=seller.plan_expires_at.isoformat() if seller.plan_expires_at else None,
        )
    log.info("plan set seller=%s plan=%s by admin=%s", seller.id, plan.tier, admin.id)
    return seller

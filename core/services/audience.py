"""A seller's customers as recipients: listing, invites to the bot, consent, groups.

Invite links are `https://t.me/<BOT_USERNAME>?start=c<token>` with a random 16-character
token (96 bits): one link per seller to hand out anywhere, and one per customer for a
personal message. Whoever opens one shares their phone number with the bot (Telegram's
contact button, the user's own number only); the seller's customer with that number is
found or created and gets the chat id, so order news reach them on Telegram.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from core import db
from core.errors import Conflict, NotFound
from core.i18n import pick_language
from core.models import Channel, Customer, CustomerInvite, Order, Seller
from core.phones import normalise_phone
from core.schemas import Pagination, paginate
from core.schemas_notifications import CustomerIn, CustomerOut, CustomerQuery, CustomerUpdate
from core.services import audit, channels, customers
from core.settings import get_settings

log = logging.getLogger(__name__)

INVITE_PREFIX = "c"
RECENT_DAYS = 30
GROUPS = ("all", "recent", "telegram", "sms", "whatsapp")


def deep_link(token: str) -> str:
    return f"https://t.me/{get_settings().bot_username}?start={INVITE_PREFIX}{token}"


def shop_name(seller: Seller) -> str:
    return seller.full_name or seller.username


async def _invite(seller_id: int, customer_id: int | None) -> CustomerInvite:
    existing = (
        await CustomerInvite.filter(seller_id=seller_id, customer_id=customer_id)
        .order_by("id")
        .first()
    )
    if existing is not None:
        return existing
    return await CustomerInvite.create(
        token=secrets.token_urlsafe(12), seller_id=seller_id, customer_id=customer_id
    )


async def seller_link(seller_id: int) -> str:
    """The seller's invite link for any customer."""
    return deep_link((await _invite(seller_id, None)).token)


async def customer_link(seller_id: int, customer_id: int) -> str:
    """A personal invite link of one customer."""
    return deep_link((await _invite(seller_id, customer_id)).token)


async def resolve_invite(token: str) -> tuple[CustomerInvite, Seller] | None:
    """The invite and its seller, or None for an unknown token."""
    invite = await CustomerInvite.get_or_none(token=token[:32])
    if invite is None:
        return None
    seller = await Seller.get_or_none(id=invite.seller_id, is_active=True)
    return (invite, seller) if seller is not None else None


async def link_telegram(
    token: str, chat_id: int, phone: str, name: str, language: str | None
) -> tuple[Customer, Seller]:
    """Bind a Telegram chat to the invite's seller's customer with this phone."""
    found = await resolve_invite(token)
    if found is None:
        raise NotFound("invite not found")
    invite, seller = found
    normalised = normalise_phone(phone, "phone")
    async with db.atomic() as conn:
        customer = await customers.upsert_by_phone(seller.id, normalised, using_db=conn)
        customer.telegram_chat_id = chat_id
        customer.language = pick_language(language)  # type: ignore[assignment]
        if name and not customer.name:
            customer.name = name[:128]
        await customer.save(
            update_fields=["telegram_chat_id", "language", "name", "updated_at"], using_db=conn
        )
        await audit.record(
            "customer.telegram_linked",
            actor=f"telegram:{chat_id}",
            object_type="customer",
            object_id=customer.id,
            seller_id=seller.id,
            using_db=conn,
            invite=invite.id,
        )
    log.info("customer linked to telegram customer=%s seller=%s", customer.id, seller.id)
    return customer, seller


async def set_consent_from_chat(customer_id: int, chat_id: int, agreed: bool) -> Customer:
    """The customer's own answer to the offers question, from their chat."""
    customer = await Customer.get_or_none(id=customer_id, telegram_chat_id=chat_id)
    if customer is None:
        raise NotFound("customer not found")
    customer.marketing_consent = agreed
    await customer.save(update_fields=["marketing_consent", "updated_at"])
    return customer


async def unlink_chat(chat_id: int) -> int:
    """Forget a chat that blocked the bot: its customers fall back to SMS or WhatsApp."""
    return await Customer.filter(telegram_chat_id=chat_id).update(telegram_chat_id=None)


# --- the seller's side --------------------------------------------------------------------


async def get(seller_id: int, customer_id: int) -> Customer:
    customer = await Customer.get_or_none(id=customer_id, seller_id=seller_id)
    if customer is None:
        raise NotFound("customer not found")
    return customer


async def create(seller_id: int, data: CustomerIn) -> Customer:
    phone = normalise_phone(data.phone, "phone")
    try:
        return await Customer.create(
            seller_id=seller_id,
            phone=phone,
            name=data.name,
            language=data.language,
            marketing_consent=data.marketing_consent,
        )
    except IntegrityError:
        raise Conflict("a customer with this phone exists", field="phone") from None


async def update(seller_id: int, customer_id: int, data: CustomerUpdate) -> Customer:
    customer = await get(seller_id, customer_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for name, value in changes.items():
        setattr(customer, name, value)
    if changes:
        await customer.save(update_fields=[*changes, "updated_at"])
    return customer


async def list_page(seller_id: int, query: CustomerQuery) -> tuple[list[Customer], Pagination]:
    qs = Customer.filter(seller_id=seller_id)
    if query.search:
        qs = qs.filter(Q(name__icontains=query.search) | Q(phone__contains=query.search))
    if query.consent is not None:
        qs = qs.filter(marketing_consent=query.consent)
    if query.telegram is not None:
        qs = qs.filter(telegram_chat_id__isnull=not query.telegram)
    total = await qs.count()
    rows = await qs.order_by("-id").offset((query.page - 1) * query.limit).limit(query.limit)
    return list(rows), paginate(query.page, query.limit, total)


def to_out(seller: Seller, customer: Customer, link: str | None = None) -> CustomerOut:
    channel = channels.customer_channel(seller, customer)
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        phone=customer.phone,
        language=customer.language,
        telegram_linked=customer.telegram_chat_id is not None,
        marketing_consent=customer.marketing_consent,
        channel=channel.value if channel else None,
        created_at=customer.created_at,
        deep_link=link,
    )


@dataclass(frozen=True, slots=True)
class Summary:
    total: int
    telegram: int
    consent: int


async def summary(seller_id: int) -> Summary:
    base = Customer.filter(seller_id=seller_id)
    return Summary(
        total=await base.count(),
        telegram=await base.filter(telegram_chat_id__isnull=False).count(),
        consent=await base.filter(marketing_consent=True).count(),
    )


async def group(seller: Seller, name: str) -> list[tuple[Customer, Channel]]:
    """Customers of a broadcast group who agreed to offers, each with their channel."""
    qs = Customer.filter(seller_id=seller.id, marketing_consent=True)
    if name == "recent":
        since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
        ordered = Order.filter(
            seller_id=seller.id, created_at__gte=since, customer_id__not_isnull=True
        )
        ids = await ordered.distinct().values_list("customer_id", flat=True)
        qs = qs.filter(id__in=list(ids))
    wanted = {"telegram": Channel.TELEGRAM, "sms": Channel.SMS, "whatsapp": Channel.WHATSAPP}
    chosen = []
    for customer in await qs.order_by("id"):
        channel = channels.customer_channel(seller, customer)
        if channel is None or (name in wanted and channel is not wanted[name]):
            continue
        chosen.append((customer, channel))
    return chosen

"""Which channel reaches whom: configuration, plan features, daily caps, customer routing.

A customer hears about orders on Telegram once they opened the seller's invite link
(`telegram_chat_id`); otherwise by the seller's `customer_channel` (SMS or WhatsApp) when
the plan includes it, the platform has credentials for it and the customer has a phone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core import db
from core.errors import ChannelNotConfigured, DailyCapReached
from core.models import Channel, Customer, CustomerChannel, Seller
from core.plans import Feature, Plan, effective_plan, require_feature
from core.services import outbox
from core.settings import Settings, get_settings

FEATURES = {
    Channel.TELEGRAM: Feature.TELEGRAM_NOTIFICATIONS,
    Channel.SMS: Feature.SMS,
    Channel.WHATSAPP: Feature.WHATSAPP,
}
_BY_SETTING = {CustomerChannel.SMS: Channel.SMS, CustomerChannel.WHATSAPP: Channel.WHATSAPP}


def configured(channel: Channel, settings: Settings | None = None) -> bool:
    """Whether the platform holds credentials for the channel."""
    settings = settings or get_settings()
    if channel is Channel.TELEGRAM:
        return settings.bot_enabled
    if channel is Channel.SMS:
        return bool(settings.eskiz_email and settings.eskiz_password.get_secret_value())
    return bool(settings.whatsapp_token.get_secret_value() and settings.whatsapp_phone_number_id)


def plan_of(seller: Seller) -> Plan:
    return effective_plan(seller.plan, seller.plan_expires_at)


def plan_allows(seller: Seller, channel: Channel) -> bool:
    return plan_of(seller).includes(FEATURES[channel])


def require_channel(seller: Seller, channel: Channel) -> Plan:
    """The seller's plan when it includes the channel and the platform can use it."""
    plan = require_feature(seller.plan, seller.plan_expires_at, FEATURES[channel])
    if not configured(channel):
        raise ChannelNotConfigured(f"{channel.value} is not configured", channel=channel.value)
    return plan


def customer_channel(seller: Seller, customer: Customer) -> Channel | None:
    """The channel that reaches this customer now, or None."""
    if customer.telegram_chat_id is not None and configured(Channel.TELEGRAM):
        return Channel.TELEGRAM
    channel = _BY_SETTING.get(CustomerChannel(seller.customer_channel))
    if channel is None or not customer.phone:
        return None
    if not plan_allows(seller, channel) or not configured(channel):
        return None
    return channel


def recipient(channel: Channel, customer: Customer) -> str:
    if channel is Channel.TELEGRAM:
        return str(customer.telegram_chat_id)
    return str(customer.phone)


def daily_cap(plan: Plan, channel: Channel) -> int | None:
    if channel is Channel.SMS:
        return plan.daily_sms
    if channel is Channel.WHATSAPP:
        return plan.daily_whatsapp
    return None


def _retry_after() -> int:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return max(1, int((midnight - now).total_seconds()))


async def reserve_daily(seller: Seller, channel: Channel, count: int, using_db: Any) -> None:
    """Refuse (DailyCapReached) when `count` more messages would pass today's cap.

    Counted from the outbox itself, inside the enqueueing transaction, with the seller's row
    locked on PostgreSQL (SQLite has one writer): exact, shared by every process, and kept
    across restarts. Call inside `db.atomic()`.
    """
    cap = daily_cap(plan_of(seller), channel)
    if cap is None or count <= 0:
        return
    if db.is_postgres() and using_db is not None:
        await Seller.filter(id=seller.id).using_db(using_db).select_for_update().first()
    used = await outbox.sent_today(seller.id, channel, using_db)
    if used + count > cap:
        raise DailyCapReached(
            f"the daily {channel.value} cap of your plan is {cap}",
            retry_after=_retry_after(),
            kind=channel.value,
            cap=cap,
            remaining=max(0, cap - used),
        )

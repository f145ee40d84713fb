"""One-time codes by SMS: hashed at rest, expiring, single-use, rate-limited per phone.

A code is kept only as an HMAC of (phone, code) under SECRET_KEY. A new code to a phone
revokes the seller's earlier ones; a code allows `OTP_MAX_ATTEMPTS` wrong guesses and then
dies; a phone gets at most one code per `OTP_RESEND_SECONDS` and `OTP_PER_PHONE_PER_HOUR`
an hour (whichever seller asks: the limit protects the phone's owner).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime, timedelta

from core import db
from core.errors import OtpInvalid, TooManyRequests
from core.models import Channel, Customer, MessageType, Notification, OtpCode, Seller
from core.phones import normalise_phone
from core.schemas_notifications import OtpSendIn, OtpVerifyIn
from core.services import audience, channels, messages, notifications, outbox, throttle
from core.services.outbox import Outgoing
from core.settings import get_settings

log = logging.getLogger(__name__)

CODE_DIGITS = 6


def code_hash(phone: str, code: str) -> str:
    secret = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(secret, f"otp:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


async def _check_pace(phone: str) -> None:
    settings = get_settings()
    last = await OtpCode.filter(phone=phone).order_by("-created_at").first()
    if last is not None:
        wait = settings.otp_resend_seconds - (datetime.now(UTC) - last.created_at).total_seconds()
        if wait > 0:
            raise TooManyRequests("a code was just sent to this phone", retry_after=int(wait) + 1)
    await throttle.hit_otp(phone)


async def send(seller: Seller, body: OtpSendIn) -> tuple[OtpCode, Notification]:
    """Queue an SMS with a code (the client's, or a new one) and remember its hash."""
    channels.require_channel(seller, Channel.SMS)
    phone = normalise_phone(body.phone, "phone")
    # A send the seller's cap refuses must not spend the phone's hourly allowance (shared by
    # every seller): look before counting; the reservation below is the exact check.
    await channels.reserve_daily(seller, Channel.SMS, 1, None)
    await _check_pace(phone)
    code = body.code or new_code()
    customer = await Customer.get_or_none(seller_id=seller.id, phone=phone)
    language = notifications.language_for(seller, customer)
    values = {"shop": audience.shop_name(seller), "code": code, "minutes": messages.otp_minutes()}
    text = messages.render(MessageType.OTP, language, values, html_mode=False)
    item = Outgoing(
        channel=Channel.SMS,
        recipient=phone,
        type=MessageType.OTP,
        text=text,
        language=language,
        customer_id=customer.id if customer else None,
        priority=outbox.PRIORITY_OTP,
    )
    now = datetime.now(UTC)
    async with db.atomic() as conn:
        await channels.reserve_daily(seller, Channel.SMS, 1, conn)
        await (
            OtpCode.filter(
                seller_id=seller.id, phone=phone, used_at__isnull=True, revoked_at__isnull=True
            )
            .using_db(conn)
            .update(revoked_at=now)
        )
        row = (await outbox.enqueue(seller.id, [item], using_db=conn))[0]
        otp = await OtpCode.create(
            seller_id=seller.id,
            phone=phone,
            code_hash=code_hash(phone, code),
            expires_at=now + timedelta(seconds=get_settings().otp_ttl_seconds),
            notification_id=row.id,
            using_db=conn,
        )
    log.info("otp queued seller=%s notification=%s", seller.id, row.id)
    return otp, row


async def verify(seller: Seller, body: OtpVerifyIn) -> bool:
    """True for the right code, once; OtpInvalid for a wrong, expired, used or spent one."""
    phone = normalise_phone(body.phone, "phone")
    now = datetime.now(UTC)
    max_attempts = get_settings().otp_max_attempts
    async with db.atomic() as conn:
        active = OtpCode.filter(
            seller_id=seller.id, phone=phone, used_at__isnull=True, revoked_at__isnull=True
        ).using_db(conn)
        if db.is_postgres():
            active = active.select_for_update()
        otp = await active.order_by("-id").first()
        usable = otp is not None and otp.expires_at > now and otp.attempts < max_attempts
        right = (
            usable
            and otp is not None
            and hmac.compare_digest(otp.code_hash, code_hash(phone, body.code))
        )
        if otp is not None and usable:
            if right:
                otp.used_at = now
            else:
                otp.attempts += 1
            await otp.save(update_fields=["used_at", "attempts"], using_db=conn)
    if not right:
        raise OtpInvalid("the code is wrong, expired or already used", field="code")
    return True

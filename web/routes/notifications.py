"""Notifications over REST: the seed's send endpoints, the outbox and batch views.

Every send is queued (202) and delivered by the worker; `GET /api/notifications/{id}` shows
its status and attempts. A request may carry `Idempotency-Key`: repeating it returns what
the first one queued instead of queueing again.
"""

from __future__ import annotations

import json

from aiohttp import web

from core.schemas_notifications import (
    BatchOut,
    NotificationOut,
    NotificationQuery,
    OtpOut,
    OtpSendIn,
    OtpVerifyIn,
    OtpVerifyOut,
    SmsSendIn,
    TelegramSendIn,
    WhatsAppBulkIn,
    WhatsAppSendIn,
)
from core.services import (
    broadcasts,
    notification_events,
    notifications,
    otp,
    whatsapp_inbound,
)
from web.api import Api
from web.auth import current_seller, current_seller_id, int_param
from web.responses import error, ok, page

api = Api()
TAG = "notifications"
QUEUED = 202
PREMIUM = {403: "the plan does not include this channel", 429: "daily cap reached"}

notification_events.subscribe()


def idempotency_key(request: web.Request) -> str | None:
    value = request.headers.get("Idempotency-Key", "").strip()
    return value[:200] or None


@api.post(
    "/api/telegram/send",
    body=TelegramSendIn,
    response=NotificationOut,
    status=QUEUED,
    tag=TAG,
    extra_responses={403: "chatId is not the seller's chat nor a customer's"},
)
async def telegram_send(request: web.Request, body: TelegramSendIn) -> web.Response:
    """Queue a Telegram message to the seller's own chat or a customer's chat."""
    seller = await current_seller(request)
    row = await notifications.send_telegram(seller, body, idempotency_key(request))
    return ok(notifications.to_out(row), status=QUEUED)


@api.post(
    "/api/premium/sms/send",
    body=SmsSendIn,
    response=NotificationOut,
    status=QUEUED,
    tag=TAG,
    extra_responses=PREMIUM,
)
async def sms_send(request: web.Request, body: SmsSendIn) -> web.Response:
    """Queue an SMS through Eskiz (plans with SMS)."""
    seller = await current_seller(request)
    row = await notifications.send_sms(seller, body, idempotency_key(request))
    return ok(notifications.to_out(row), status=QUEUED)


@api.post(
    "/api/premium/sms/send-otp",
    body=OtpSendIn,
    response=OtpOut,
    status=QUEUED,
    tag=TAG,
    extra_responses=PREMIUM,
)
async def sms_send_otp(request: web.Request, body: OtpSendIn) -> web.Response:
    """Send a one-time code by SMS (the given `code`, or one the server makes)."""
    seller = await current_seller(request)
    code, row = await otp.send(seller, body)
    data = OtpOut(notification_id=row.id, phone=code.phone, expires_at=code.expires_at)
    return ok(data, status=QUEUED)


@api.post(
    "/api/premium/sms/verify-otp",
    body=OtpVerifyIn,
    response=OtpVerifyOut,
    tag=TAG,
    extra_responses={403: "wrong, expired or used code"},
)
async def sms_verify_otp(request: web.Request, body: OtpVerifyIn) -> web.Response:
    """Check a one-time code: right once, then used."""
    seller = await current_seller(request)
    return ok(OtpVerifyOut(verified=await otp.verify(seller, body)))


@api.post(
    "/api/whatsapp/send",
    body=WhatsAppSendIn,
    response=NotificationOut,
    status=QUEUED,
    tag=TAG,
    extra_responses=PREMIUM,
)
async def whatsapp_send(request: web.Request, body: WhatsAppSendIn) -> web.Response:
    """Queue a WhatsApp message of a type (template outside the 24-hour window)."""
    seller = await current_seller(request)
    row = await notifications.send_whatsapp(seller, body, idempotency_key(request))
    return ok(notifications.to_out(row), status=QUEUED)


@api.post(
    "/api/whatsapp/send-bulk",
    body=WhatsAppBulkIn,
    response=BatchOut,
    status=QUEUED,
    tag=TAG,
    extra_responses=PREMIUM,
)
async def whatsapp_send_bulk(request: web.Request, body: WhatsAppBulkIn) -> web.Response:
    """Queue many WhatsApp messages at once; answers the batch id and counts."""
    seller = await current_seller(request)
    batch = await broadcasts.send_whatsapp_bulk(seller, body, idempotency_key(request))
    state = await broadcasts.progress(seller.id, batch.id)
    return ok(state, status=QUEUED, batchId=batch.id)


@api.get(
    "/api/notifications", query=NotificationQuery, response=NotificationOut, many=True, tag=TAG
)
async def list_notifications(request: web.Request, query: NotificationQuery) -> web.Response:
    """The seller's notifications, newest first, by status, channel or batch."""
    rows, pagination = await notifications.list_page(await current_seller_id(request), query)
    return page([notifications.to_out(row) for row in rows], pagination)


@api.get(r"/api/notifications/{id:[0-9]+}", response=NotificationOut, tag=TAG)
async def get_notification(request: web.Request) -> web.Response:
    """One notification: status, attempts, the channel's last answer."""
    row = await notifications.get(await current_seller_id(request), int_param(request))
    return ok(notifications.to_out(row))


@api.get(r"/api/notifications/batches/{id:[0-9]+}", response=BatchOut, tag=TAG)
async def get_batch(request: web.Request) -> web.Response:
    """A bulk send's progress: counts by status and what remains."""
    state = await broadcasts.progress(await current_seller_id(request), int_param(request))
    return ok(state)


# --- WhatsApp's webhook (Meta calls it; its protocol, not ours: left out of the document) ---

WHATSAPP_HOOK = "/whatsapp/webhook"


@api.get(WHATSAPP_HOOK, tag=TAG, auth=False, raw_response=True)
async def whatsapp_hook_check(request: web.Request) -> web.Response:
    """Meta's subscription check: echo hub.challenge when hub.verify_token is ours."""
    query = request.query
    value = whatsapp_inbound.challenge(
        query.get("hub.mode"), query.get("hub.verify_token"), query.get("hub.challenge")
    )
    if value is None:
        return error(403, "forbidden", "webhook verification failed")
    return web.Response(text=value)


@api.post(WHATSAPP_HOOK, tag=TAG, auth=False, raw_response=True)
async def whatsapp_hook(request: web.Request) -> web.Response:
    """Customers' messages and delivery reports, signed with the app secret."""
    raw = await request.read()
    signature = request.headers.get(whatsapp_inbound.SIGNATURE_HEADER)
    if not whatsapp_inbound.signature_ok(raw, signature):
        return error(403, "forbidden", "bad signature")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return error(400, "bad_request", "the body is not JSON")
    await whatsapp_inbound.handle(payload)
    return ok()

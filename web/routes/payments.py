"""Plans and subscription payments over REST, and the Payme and Click callbacks.

The callbacks live under `/api/payment/callback/` (exempt from rate limits and cross-site
checks: they are server-to-server and carry their own credentials). They are not envelope
routes: Payme gets JSON-RPC with HTTP 200 always, Click its own JSON, so they are marked
`raw_response` and left out of the OpenAPI document; PROTOCOLS.md describes them.
"""

from __future__ import annotations

import logging

from aiohttp import web

from core.payments import click, payme, service
from core.payments.schemas import CreatePaymentIn, HistoryQuery, PaymentOut, PlanList, VerifyOut
from core.settings import Settings
from web import security
from web.api import Api
from web.auth import current_seller, current_seller_id
from web.responses import json_response, ok, page

log = logging.getLogger(__name__)

CALLBACKS = "/api/payment/callback"
MAX_TRANSACTION_ID = 64


api = Api()


def _settings(request: web.Request) -> Settings:
    from web.app import SETTINGS  # web.app imports this module: look the key up late

    return request.app[SETTINGS]


# --- plans and payments --------------------------------------------------------------------


@api.get("/api/plans", response=PlanList, tag="payments", auth=False)
async def list_plans(request: web.Request) -> web.Response:
    """The plan catalog: tier, monthly and yearly price in UZS, rate class and features."""
    return ok(PlanList(service.catalog()))


@api.post(
    "/api/payment/create-payment",
    body=CreatePaymentIn,
    response=PaymentOut,
    tag="payments",
    extra_responses={
        400: "amount differs from the catalog price (`error.details.expected`)",
        503: "the provider is not set up on this platform (`provider_not_configured`)",
    },
)
async def create_payment(request: web.Request, body: CreatePaymentIn) -> web.Response:
    """Start paying for a plan: answers `paymentUrl` (Click or Payme) and `transactionId`."""
    seller = await current_seller(request)
    checkout = await service.create_payment(seller.id, body, language=str(seller.language))
    return ok(
        checkout.payment,
        paymentUrl=checkout.payment_url,
        transactionId=checkout.transaction_id,
    )


@api.post("/api/payment/verify/{transactionId}", response=VerifyOut, tag="payments")
async def verify_payment(request: web.Request) -> web.Response:
    """The payment's state (pending, paid, cancelled, expired) and the subscription now."""
    seller_id = await current_seller_id(request)
    transaction_id = request.match_info["transactionId"]
    if len(transaction_id) > MAX_TRANSACTION_ID:
        raise web.HTTPNotFound()
    return ok(await service.verify(seller_id, transaction_id))


@api.get(
    "/api/payment/history", query=HistoryQuery, response=PaymentOut, many=True, tag="payments"
)
async def payment_history(request: web.Request, query: HistoryQuery) -> web.Response:
    """The seller's payments, newest first."""
    items, pagination = await service.history(await current_seller_id(request), query)
    return page(items, pagination)


# --- gateway callbacks ---------------------------------------------------------------------


@api.route("*", f"{CALLBACKS}/payme", tag="payments", auth=False, raw_response=True)
async def payme_callback(request: web.Request) -> web.Response:
    """Payme Merchant API (JSON-RPC 2.0); HTTP 200 whatever happens."""
    settings = _settings(request)
    body = b""
    if request.method == "POST":
        try:
            body = await request.read()
        except Exception:  # too large, or an encoding that does not decode
            body = b"\x00"  # answered as a parse error, after the auth check
    answer = await payme.handle(
        payme.PaymeRequest(
            http_method=request.method,
            body=body,
            authorization=request.headers.get("Authorization"),
            remote=security.client_ip(request, settings.trusted_proxies),
        ),
        settings,
    )
    return json_response(answer)


@api.post(f"{CALLBACKS}/click/prepare", tag="payments", auth=False, raw_response=True)
async def click_prepare(request: web.Request) -> web.Response:
    """Click SHOP-API Prepare (action=0)."""
    return json_response(await click.prepare(await _form(request), _settings(request)))


@api.post(f"{CALLBACKS}/click/complete", tag="payments", auth=False, raw_response=True)
async def click_complete(request: web.Request) -> web.Response:
    """Click SHOP-API Complete (action=1)."""
    return json_response(await click.complete(await _form(request), _settings(request)))


async def _form(request: web.Request) -> dict[str, str]:
    """The form fields as received; a body that is not a form has none (Click's -8)."""
    try:
        data = await request.post()
    except Exception as exc:  # too large, or a multipart body aiohttp cannot parse
        log.info("click callback body unreadable error=%s", type(exc).__name__)
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)}

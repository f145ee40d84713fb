"""The API's defences at the edge: body size, CORS, cross-site request checks, rate limits.

Order in the application (outermost first): request context, error envelope, `request_guard`
(size, CORS preflight, origin check: no session needed), sessions, `rate_limit` (needs the
seller and their plan). `response_headers` runs when any answer is prepared, errors included,
and adds the CORS and rate-limit headers.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItem, RateLimitItemPerSecond

from core.errors import Forbidden, NotFound, PayloadTooLarge, TooManyRequests
from core.models import Seller
from core.plans import STANDARD, RateClass, effective_plan
from core.services import accounts
from core.services.throttle import LimitStore, Window, create_rate_limit_storage, shared_store
from core.settings import Settings
from web import sessions
from web.auth import SELLER
from web.responses import error

log = logging.getLogger(__name__)

__all__ = [
    "EXEMPT_PREFIXES",
    "client_address",
    "client_ip",
    "create_rate_limit_storage",
    "rate_limit",
    "request_guard",
    "response_headers",
]

RATE_WINDOW = web.RequestKey("scx.rate_window", Window)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Server-to-server endpoints: they carry their own credentials and are never rate limited.
CALLBACKS = "/api/payment/callback/"
EXEMPT_PREFIXES = (CALLBACKS, "/telegram/webhook", "/health")
CORS_METHODS = "GET, POST, PUT, DELETE"
CORS_HEADERS = frozenset({"content-type", "x-request-id", "accept", "accept-language"})
CORS_EXPOSE = (
    "Retry-After, X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)
CORS_MAX_AGE = "600"
HSTS = "max-age=63072000; includeSubDomains"


def is_exempt(path: str) -> bool:
    return path.startswith(EXEMPT_PREFIXES)


def is_limited(path: str) -> bool:
    return path.startswith("/api/") and not is_exempt(path)


# --- who is asking --------------------------------------------------------------------------


Ip = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(spec: str) -> list[Network]:
    """`10.0.0.0/8, ::1` as networks (a bad entry fails at start-up, not per request)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()]


@functools.lru_cache(maxsize=4096)
def _parse_ip(value: str) -> Ip | None:
    """An address as the limits count it (IPv4-mapped IPv6 as IPv4); parsed once per text."""
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


@functools.lru_cache(maxsize=4096)
def _key_of(ip: Ip) -> str:
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    # One IPv6 subscriber holds a whole /64: count the network, not each address in it.
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


@dataclass(frozen=True, slots=True)
class Client:
    ip: Ip | None
    key: str


CLIENT = web.RequestKey("scx.client", Client)


def client(request: web.Request, trusted: list[Network] | None = None) -> Client:
    """Who is calling; X-Forwarded-For is believed only when sent by a trusted proxy."""
    cached = request.get(CLIENT)
    if cached is not None:
        return cached
    peer = _parse_ip(request.remote or "")
    if peer is not None and trusted and any(peer in net for net in trusted):
        # Walk from the nearest hop back; the first untrusted address is the client.
        for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            ip = _parse_ip(hop)
            if ip is None:
                break
            peer = ip
            if not any(ip in net for net in trusted):
                break
    found = Client(peer, _key_of(peer) if peer is not None else "unknown")
    request[CLIENT] = found
    return found


def client_address(request: web.Request, trusted: str = "") -> str:
    """The key a client is counted under before login (an IPv4 address or an IPv6 /64)."""
    return client(request, networks(trusted)).key


def client_ip(request: web.Request, trusted: str = "") -> str | None:
    """The client's own address (for allow-lists), as `request_guard` worked it out."""
    ip = client(request, networks(trusted)).ip
    return str(ip) if ip is not None else None


# --- origins: CORS and cross-site request checks --------------------------------------------


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased; None when it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{host}{suffix}"


@dataclass(frozen=True, slots=True)
class Origins:
    cors: frozenset[str]
    own: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> Origins:
        cors = {origin_of(o) for o in settings.cors_origin_list}
        own = {origin_of(settings.public_url)}
        return cls(frozenset(o for o in cors if o), frozenset(o for o in own if o))

    def allowed_for_writes(self, origin: str, request: web.Request) -> bool:
        # The browser sets Host to the site it talks to, so the request's own origin is safe.
        this = origin_of(f"{request.scheme}://{request.host}")
        return origin in self.cors or origin in self.own or origin == this


def _request_origin(request: web.Request) -> str | None:
    """The Origin header, or the origin of the Referer when a browser sent no Origin."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None:
        return origin_of(origin) or "null"
    referer = request.headers.get(hdrs.REFERER)
    return origin_of(referer) if referer else None


def _preflight(request: web.Request, origins: Origins) -> web.Response:
    origin = origin_of(request.headers.get(hdrs.ORIGIN, ""))
    if origin is None or origin not in origins.cors:
        response = error(403, "forbidden", "this origin may not call the API")
        response.headers[hdrs.VARY] = "Origin"
        return response
    asked = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "")
    headers = [h.strip() for h in asked.split(",") if h.strip().lower() in CORS_HEADERS]
    response = web.Response(status=204)
    response.headers.update(
        {
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS: "true",
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
            hdrs.ACCESS_CONTROL_MAX_AGE: CORS_MAX_AGE,
            hdrs.VARY: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        }
    )
    if headers:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ", ".join(headers)
    return response


# What a page on another site can make a browser send without a CORS preflight.
_SIMPLE_BODY_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)


def _could_be_cross_site(request: web.Request) -> bool:
    """Whether a request that names no origin may still come from a page on another site.

    Browsers name the origin of every cross-site request that changes data; a request without
    Origin or Referer is a script (curl, the seller's own tools) unless Fetch Metadata says it
    came from elsewhere, or it has the form of what a page can send without a preflight (a form
    or text body). Anything else, JSON or PUT/DELETE, needs a preflight that only
    `CORS_ORIGINS` pass.
    """
    if request.headers.get("Sec-Fetch-Site", "").lower() in {"cross-site", "same-site"}:
        return True
    return request.method == "POST" and request.content_type in _SIMPLE_BODY_TYPES


def _check_origin(request: web.Request, origins: Origins, cookie: str) -> None:
    """A state-changing request from a browser must come from an origin we trust."""
    origin = _request_origin(request)
    if origin is None:
        if cookie in request.cookies and _could_be_cross_site(request):
            raise Forbidden(
                "a request that changes data in the form a page elsewhere could send must name"
                " its Origin (scripts: send JSON with Content-Type: application/json)",
                reason="origin",
            )
        return  # not a browser page: no ambient credentials to abuse
    if not origins.allowed_for_writes(origin, request):
        log.warning("cross-site request refused path=%s origin=%s", request.path, origin[:100])
        raise Forbidden("requests from this origin are not allowed", reason="origin")


def request_guard(settings: Settings, cookie: str) -> Middleware:
    """Body size, CORS preflight and the cross-site request check; before any session work."""
    origins = Origins.of(settings)
    max_body = settings.max_body_bytes
    trusted = networks(settings.trusted_proxies)
    metrics_from = networks(settings.metrics_allowed_networks)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        caller = client(request, trusted)  # cached for the handlers
        if request.path == "/metrics" and not (
            caller.ip is not None and any(caller.ip in net for net in metrics_from)
        ):
            raise web.HTTPNotFound()  # the operators' page: not there for the internet
        # Gateways get an oversized body refused in their own protocol, by the callback.
        if (request.content_length or 0) > max_body and not request.path.startswith(CALLBACKS):
            raise PayloadTooLarge("the request body is too large", limit=max_body)
        is_preflight = (
            request.method == "OPTIONS"
            and hdrs.ORIGIN in request.headers
            and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        )
        if is_preflight and request.path.startswith("/api/"):
            return _preflight(request, origins)
        if request.method not in SAFE_METHODS and not is_exempt(request.path):
            _check_origin(request, origins, cookie)
        return await handler(request)

    return guard


# --- rate limits ----------------------------------------------------------------------------


async def _optional_seller(request: web.Request) -> Seller | None:
    """The logged-in, active seller, cached for the handlers; None for anyone else."""
    seller = request.get(SELLER)
    if seller is not None:
        return seller
    seller_id = await sessions.seller_id(request)
    if seller_id is None:
        return None
    try:
        seller = await accounts.active_seller(seller_id)
    except NotFound:
        return None
    request[SELLER] = seller
    return seller


def _rate_item(rate: RateClass, multiplier: float) -> RateLimitItem | None:
    if rate.requests is None:
        return None
    amount = max(1, int(rate.requests * multiplier))
    return RateLimitItemPerSecond(amount, rate.window_seconds, namespace="api")


def rate_limit(
    settings: Settings, store: LimitStore | Callable[[], LimitStore] | None = None
) -> Middleware:
    """Per-plan request limits on `/api/...`: by seller, or by client address before login."""

    def current_store() -> LimitStore:
        if isinstance(store, LimitStore):
            return store
        return store() if store is not None else shared_store(settings)

    @web.middleware
    async def limiter(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            not settings.rate_limit_enabled
            or request.method == "OPTIONS"
            or not is_limited(request.path)
        ):
            return await handler(request)
        seller = await _optional_seller(request)
        if seller is None:
            rate, key = STANDARD, "addr:" + client_address(request)
        else:
            rate = effective_plan(seller.plan, seller.plan_expires_at).rate
            key = f"seller:{seller.id}"
        item = _rate_item(rate, settings.rate_limit_multiplier)
        if item is None:
            return await handler(request)
        limits = current_store()
        allowed = await limits.acquire(item, key)
        window = await limits.window(item, key)
        request[RATE_WINDOW] = window
        if not allowed:
            raise TooManyRequests(
                f"rate limit of {item.amount} requests per {rate.window_seconds // 60} "
                "minutes reached",
                retry_after=window.retry_after,
                limit=item.amount,
            )
        return await handler(request)

    return limiter


# --- headers on every answer ----------------------------------------------------------------


def _add_vary(response: web.StreamResponse, value: str) -> None:
    present = {v.strip().lower() for v in response.headers.get(hdrs.VARY, "").split(",")}
    if value.lower() not in present:
        response.headers.add(hdrs.VARY, value)


def response_headers(
    settings: Settings,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """CORS headers for listed origins, `Vary: Origin`, and the rate-limit figures."""
    origins = Origins.of(settings)

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        # The default names the server's version; nothing is gained by telling it.
        response.headers[hdrs.SERVER] = "SellerCloudX"
        if settings.cookie_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
            _add_vary(response, "Origin")
            origin = origin_of(request.headers.get(hdrs.ORIGIN, ""))
            is_preflight = response.status == 204 and request.method == "OPTIONS"
            if origin in origins.cors and not is_preflight:
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
                response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = CORS_EXPOSE
        window = request.get(RATE_WINDOW)
        if window is not None:
            response.headers["X-RateLimit-Limit"] = str(window.limit)
            response.headers["X-RateLimit-Remaining"] = str(window.remaining)
            response.headers["X-RateLimit-Reset"] = str(window.retry_after)

    return add

"""Eskiz SMS through the eskiz-sms SDK (async, on httpx), with our errors around it.

The SDK logs in on first use and, on a 401, refreshes the token (`PATCH /auth/refresh`)
or logs in again, then repeats the request once. It never retries a POST, a 429 or a 5xx:
those come back as `EskizBadRequest(status_code)` and the delivery worker backs off and
retries from the outbox. The token is kept in `core.cache` (Redis when configured), so a
restarted worker does not log in again.

`status_by_id` is read raw: the SDK's `sms.status()` model has no `status` field and drops
the delivery status, which is the one thing wanted from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from eskiz import (
    AsyncEskizSMS,
    AuthError,
    EskizBadRequest,
    EskizError,
    EskizHTTPError,
    EskizValidationError,
    InvalidCredentials,
    MemoryTokenStorage,
)
from eskiz._protocol import RequestPlan
from eskiz.endpoints import sms_status_by_id

from core.cache import Cache, get_cache
from core.integrations.delivery import (
    AmbiguousFailure,
    ChannelUnavailable,
    DeliveryError,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
)
from core.integrations.http import transport_error
from core.settings import Settings

log = logging.getLogger(__name__)

TOKEN_KEY = "eskiz:token"
TOKEN_TTL = 29 * 24 * 3600
DELIVERED = frozenset({"DELIVRD", "DELIVERED"})
UNDELIVERED = frozenset({"UNDELIV", "UNDELIVERED", "REJECTD", "REJECTED", "EXPIRED", "FAILED"})


@dataclass(frozen=True, slots=True)
class SmsStatus:
    raw: str
    delivered: bool
    failed: bool


class EskizClient:
    """Sends SMS from the configured sender name; one instance per worker process."""

    def __init__(self, settings: Settings, *, cache: Cache | None = None) -> None:
        if not settings.eskiz_email or not settings.eskiz_password.get_secret_value():
            raise ValueError("ESKIZ_EMAIL and ESKIZ_PASSWORD must be set")
        self._settings = settings
        self._cache = cache or get_cache(settings)
        self._tokens = MemoryTokenStorage()
        self._cached_token: str | None = None
        self._sdk: AsyncEskizSMS | None = None

    async def _client(self) -> AsyncEskizSMS:
        if self._sdk is None:
            self._cached_token = await self._cache.get(TOKEN_KEY)
            if self._cached_token:
                self._tokens.set(self._cached_token)
            settings = self._settings
            self._sdk = AsyncEskizSMS(
                email=settings.eskiz_email,
                password=settings.eskiz_password.get_secret_value(),
                base_url=settings.eskiz_api_url.rstrip("/"),
                timeout=settings.channel_timeout,
                from_whom=settings.eskiz_from,
                token_storage=self._tokens,
                logger=logging.getLogger("eskiz"),
            )
        return self._sdk

    async def aclose(self) -> None:
        if self._sdk is not None:
            await self._sdk.aclose()

    async def send(self, phone: str, text: str) -> str:
        """Send one SMS to 998XXXXXXXXX; returns Eskiz's message id."""
        sdk = await self._client()
        try:
            result = await sdk.sms.send(mobile_phone=phone, message=text)
        except EskizError as exc:
            raise self._error(exc) from None
        finally:
            await self._keep_token()
        if result.id is None:
            raise AmbiguousFailure("eskiz: accepted without an id")
        return str(result.id)

    async def status(self, sms_id: str) -> SmsStatus:
        """The delivery status Eskiz reports for one SMS (DELIVRD, UNDELIV, WAITING...)."""
        sdk = await self._client()
        plan: RequestPlan[Any] = RequestPlan(
            method="GET", path=sms_status_by_id(sms_id), parse=lambda response: response.data
        )
        try:
            # Private on purpose: see the module docstring (the SDK drops `status`).
            body = await sdk._executor.run(plan)
        except EskizError as exc:
            raise self._error(exc) from None
        finally:
            await self._keep_token()
        data = body.get("data") if isinstance(body, dict) else None
        raw = str((data or {}).get("status") or "").upper()
        return SmsStatus(raw=raw, delivered=raw in DELIVERED, failed=raw in UNDELIVERED)

    async def _keep_token(self) -> None:
        token = self._tokens.get()
        if token and token != self._cached_token:
            self._cached_token = token
            await self._cache.set(TOKEN_KEY, token, TOKEN_TTL)

    def _error(self, exc: EskizError) -> DeliveryError:
        reason = f"eskiz {exc.status_code or ''}: {exc.message}".replace("  ", " ")
        if isinstance(exc, InvalidCredentials):
            log.error("eskiz refused the account credentials")
            return ChannelUnavailable(reason, retry_after=300)
        if isinstance(exc, AuthError):
            self._tokens.clear()
            return TemporaryFailure(reason)
        if isinstance(exc, EskizValidationError):
            return PermanentFailure(reason)
        if isinstance(exc, EskizHTTPError):
            cause = exc.__cause__
            if isinstance(cause, httpx.HTTPError):
                return transport_error("eskiz", cause)
            return AmbiguousFailure(reason)
        if isinstance(exc, EskizBadRequest):
            return _bad_request(exc, reason)
        return TemporaryFailure(reason)


def _bad_request(exc: EskizBadRequest, reason: str) -> DeliveryError:
    status = exc.status_code
    if status == 429:
        return Throttled(reason, 1.0)
    if status is None or 200 <= status < 300:
        # A 2xx whose body did not parse: Eskiz may well have taken the SMS.
        return AmbiguousFailure(reason)
    if status >= 500:
        return TemporaryFailure(reason)
    if "balance" in exc.message.lower():
        return ChannelUnavailable(reason, retry_after=300)
    return PermanentFailure(reason)

"""The one exception root of the core: a stable code, details, never user-facing text.

`web/` maps `code` to an HTTP status and the JSON envelope; `handlers/` maps it to a locale key
(`errors.<code>`). `message` is an English developer message for logs and REST clients; the
REST layer localizes it from `locales/` when it can.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Root of every error the core raises on purpose."""

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.code.replace("_", " ")
        self.details = details
        super().__init__(self.message)


class ValidationFailed(AppError):
    code = "validation_error"
    status = 400

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class UnknownReference(ValidationFailed):
    """A body names an object that does not exist (or is another seller's): 404, as for a
    path id, naming the field. The body itself is well formed."""

    code = "not_found"
    status = 404


class AmountMismatch(ValidationFailed):
    """A client's amount disagrees with the one the server computes: 409, with `expected`."""

    code = "amount_mismatch"
    status = 409


class NotAuthenticated(AppError):
    code = "not_authenticated"
    status = 401


class InvalidCredentials(AppError):
    code = "invalid_credentials"
    status = 401


class Forbidden(AppError):
    code = "forbidden"
    status = 403


class PlanRequired(AppError):
    code = "plan_required"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class InvalidTransition(AppError):
    code = "invalid_status_transition"
    status = 409


class OutOfStock(AppError):
    code = "out_of_stock"
    status = 409


class TooManyRequests(AppError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str | None = None, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class DailyCapReached(TooManyRequests):
    """A per-seller daily cap (SMS, WhatsApp, video renders) is spent until midnight UTC."""

    code = "daily_cap_reached"


class PayloadTooLarge(AppError):
    code = "payload_too_large"
    status = 413


class ServiceUnavailable(AppError):
    code = "service_unavailable"
    status = 503


class ExternalServiceError(AppError):
    """An outside service (Telegram, Eskiz, WhatsApp, a marketplace) failed or refused."""

    code = "external_service_error"
    status = 502

    def __init__(
        self, message: str | None = None, *, retryable: bool = False, **details: Any
    ) -> None:
        super().__init__(message, **details)
        self.retryable = retryable


# --- notifications ----------------------------------------------------------------------------


class ChatNotAllowed(Forbidden):
    """A Telegram chat that is neither the seller's own nor one of their customers'."""

    code = "chat_not_allowed"


class ConsentRequired(Forbidden):
    """Marketing to a customer who has not agreed to it."""

    code = "marketing_consent_required"


class CustomerUnreachable(Conflict):
    """No channel reaches this customer (no Telegram, no SMS or WhatsApp in the plan)."""

    code = "customer_unreachable"


class ChannelNotConfigured(ServiceUnavailable):
    """The platform has no credentials for this channel (BOT_TOKEN, ESKIZ_*, WHATSAPP_*)."""

    code = "channel_not_configured"


class ProviderNotConfigured(ServiceUnavailable):
    """No credentials for this payment provider: its callbacks could never be accepted."""

    code = "provider_not_configured"


class OtpInvalid(AppError):
    """A one-time code that is wrong, expired, used, or tried too often."""

    code = "otp_invalid"
    # Refused, not malformed: a well-formed code that does not verify.
    status = 403

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

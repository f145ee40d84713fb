"""What a message channel (Telegram, Eskiz, WhatsApp) can answer, in one vocabulary.

The clients translate their protocol's errors into these, and the delivery worker decides
from the class alone: pause, retry with backoff, switch to a template, or fail at once.
`reason` keeps the channel's own words for the seller (`last_error` of the outbox row).
"""

from __future__ import annotations

from typing import Literal

from core.errors import ExternalServiceError

Scope = Literal["channel", "recipient"]


class DeliveryError(ExternalServiceError):
    """A channel did not take the message."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason[:480], retryable=retryable)
        self.reason = reason[:480]


class Throttled(DeliveryError):
    """429 or its equivalent: nothing was sent, wait `retry_after` seconds (`scope` only)."""

    def __init__(self, reason: str, retry_after: float, scope: Scope = "channel") -> None:
        super().__init__(reason, retryable=True)
        self.retry_after = max(0.0, retry_after)
        self.scope = scope


class ChannelUnavailable(DeliveryError):
    """The whole channel cannot send now (credentials, balance): pause it, keep the rows."""

    def __init__(self, reason: str, retry_after: float = 60.0) -> None:
        super().__init__(reason, retryable=True)
        self.retry_after = retry_after


class TemporaryFailure(DeliveryError):
    """5xx or a connection that never carried the request: retry with backoff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=True)


class AmbiguousFailure(TemporaryFailure):
    """The request went out and no answer came back (a read timeout, a dropped connection).

    The channel may have accepted it. It is retried like a 5xx (the issue asks timeouts to
    be retried), which is the one path on which a message can arrive twice.
    """


class PermanentFailure(DeliveryError):
    """The channel refused this message for good: blocked bot, unknown chat, bad number."""

    def __init__(self, reason: str, *, blocked: bool = False) -> None:
        super().__init__(reason)
        self.blocked = blocked


class WindowClosed(DeliveryError):
    """WhatsApp: the 24-hour customer service window is closed, only a template may go."""

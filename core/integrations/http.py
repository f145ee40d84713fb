"""httpx plumbing shared by the message channels: one pooled client, errors classified.

A failure before the request left (connecting, waiting for a pooled connection) is safe to
retry; one after it left (no answer, a dropped connection) is ambiguous: the channel may
have acted on it.
"""

from __future__ import annotations

import httpx

from core.integrations.delivery import AmbiguousFailure, DeliveryError, TemporaryFailure

_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


def new_client(
    timeout: float, *, base_url: str = "", headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        # Few connections: httpcore scans its whole pool on every request.
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=8),
        follow_redirects=False,
    )


def transport_error(channel: str, exc: httpx.HTTPError) -> DeliveryError:
    """The delivery error for an httpx exception (never includes the URL: it may hold a token)."""
    kind = type(exc).__name__
    if isinstance(exc, _NOT_SENT):
        return TemporaryFailure(f"{channel}: {kind} before sending")
    return AmbiguousFailure(f"{channel}: {kind} after sending")

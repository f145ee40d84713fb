"""Imports every domain module that registers scheduled jobs or background loops."""

from __future__ import annotations

from datetime import UTC, datetime

import core.payments.jobs  # noqa: F401  (payment expiry, plan reminders and expiry)
from core.services import (
    delivery,  # noqa: F401  (notification outbox delivery loop)
    queue_depths,  # noqa: F401  (queue sizes for /metrics)
    updates,
)
from core.services.sessions import DatabaseSessions
from core.worker import scheduled


@scheduled("sessions.purge_expired", "interval", minutes=30)
async def purge_expired_sessions() -> int:
    return await DatabaseSessions().purge_expired()


@scheduled("links.purge_expired", "interval", hours=6)
async def purge_link_codes() -> int:
    from core.models import TelegramLinkCode

    return await TelegramLinkCode.filter(expires_at__lt=datetime.now(UTC)).delete()


@scheduled("telegram.purge_updates", "interval", hours=6)
async def purge_telegram_updates() -> int:
    return await updates.purge_old()

"""Bot handlers for notifications (filled in by the notifications work)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="notifications")

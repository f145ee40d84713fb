"""Bot handlers for payments (filled in by the payments work)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="payments")

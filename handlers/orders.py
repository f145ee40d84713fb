"""Bot handlers for orders (filled in by the orders work)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="orders")

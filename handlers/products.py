"""Bot handlers for products (filled in by the products work)."""

from __future__ import annotations

from aiogram import Router

router = Router(name="products")

"""Telegram handlers: one Router per feature, assembled by `bot.factory`."""

from __future__ import annotations

from aiogram import Router


def routers() -> list[Router]:
    """Every feature router, in the order their filters must be tried."""
    from handlers import errors, notifications, orders, payments, products, start, steps

    return [
        errors.router,
        steps.router,
        notifications.router,
        start.router,
        products.router,
        orders.router,
        payments.router,
        steps.fallback,
    ]

"""Callback-data factories. Prefixes persist in chats' old keyboards: choose once, keep."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class MenuCb(CallbackData, prefix="m"):
    section: str  # main, products, orders, subscription, customers, settings


class LangCb(CallbackData, prefix="lang"):
    code: str
    onboarding: bool = False


class OnboardCb(CallbackData, prefix="ob"):
    action: str  # create, code, password


class CancelCb(CallbackData, prefix="x"):
    pass

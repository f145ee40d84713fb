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


# --- catalog ----------------------------------------------------------------------------------


class ProductListCb(CallbackData, prefix="pp"):
    page: int = 1


class ProductCb(CallbackData, prefix="p"):
    id: int
    action: str = "view"  # view, price, stock, photo, delete, delete_ok
    page: int = 1  # the list page to go back to


class ProductAddCb(CallbackData, prefix="pa"):
    action: str  # new, skip, cancel


class CategoryCb(CallbackData, prefix="pc"):
    index: int  # into the categories offered at the step (names may exceed 64 bytes)


# --- orders -----------------------------------------------------------------------------------


class OrderListCb(CallbackData, prefix="ol"):
    status: str = "all"  # an OrderStatus value or "all"
    page: int = 1


class OrderCb(CallbackData, prefix="o"):
    id: int
    back: str = "all"  # the list to go back to: status or "all"
    page: int = 1


class OrderStatusCb(CallbackData, prefix="os"):
    id: int
    to: str  # the OrderStatus to move to
    confirmed: bool = False  # cancel and return ask first
    back: str = "all"
    page: int = 1


# --- subscription -----------------------------------------------------------------------------


class SubCb(CallbackData, prefix="sub"):
    action: str  # tier, period, pay, check, history
    tier: str = ""  # a paid tier of core.plans
    period: str = ""  # monthly, yearly
    provider: str = ""  # click, payme
    tx: str = ""  # our transactionId (SUB-...), for check


# --- customers and notifications ----------------------------------------------------------


class CustomerCb(CallbackData, prefix="cu"):
    action: str  # list, view, write, broadcast, group, send
    id: int = 0  # the customer, for view and write
    page: int = 1  # the list page
    group: str = ""  # a broadcast group of core.services.audience.GROUPS


class ConsentCb(CallbackData, prefix="cc"):
    customer: int
    agree: bool  # the customer's own answer to "may the shop send offers?"

"""Every tortoise model of the single `models` app; add a domain module's import here."""

from core.models.accounts import AuditEvent, Seller, TelegramLinkCode, WebSession
from core.models.base import CustomerChannel, Language, OrderStatus
from core.models.catalog import Customer, Product
from core.models.orders import Order, OrderEvent, OrderItem

__all__ = [
    "AuditEvent",
    "Customer",
    "CustomerChannel",
    "Language",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OrderStatus",
    "Product",
    "Seller",
    "TelegramLinkCode",
    "WebSession",
]

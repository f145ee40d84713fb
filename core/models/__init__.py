"""Every tortoise model of the single `models` app; add a domain module's import here."""

from core.models.accounts import AuditEvent, Seller, TelegramLinkCode, WebSession
from core.models.base import CustomerChannel, Language, OrderStatus
from core.models.billing import (
    MerchantSetting,
    Payment,
    PaymentStatus,
    PlanNotice,
    Provider,
    ProviderTransaction,
    TxState,
)
from core.models.catalog import Customer, Product
from core.models.notifications import (
    Channel,
    CustomerInvite,
    DeliveryState,
    MessageType,
    Notification,
    NotificationBatch,
    OtpCode,
)
from core.models.orders import Order, OrderEvent, OrderItem
from core.models.telegram import ProcessedUpdate, UpdateState

__all__ = [
    "AuditEvent",
    "Channel",
    "Customer",
    "CustomerChannel",
    "CustomerInvite",
    "DeliveryState",
    "Language",
    "MerchantSetting",
    "MessageType",
    "Notification",
    "NotificationBatch",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OrderStatus",
    "OtpCode",
    "Payment",
    "PaymentStatus",
    "PlanNotice",
    "ProcessedUpdate",
    "Product",
    "Provider",
    "ProviderTransaction",
    "Seller",
    "TelegramLinkCode",
    "TxState",
    "UpdateState",
    "WebSession",
]

"""Shared model bits: timestamps and the string enums that persist in the database."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class TimestampedModel(Model):
    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class Language(StrEnum):
    UZ = "uz"
    RU = "ru"
    EN = "en"


class OrderStatus(StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class CustomerChannel(StrEnum):
    """How a seller's customers without Telegram hear about their orders."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    NONE = "none"

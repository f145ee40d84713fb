"""A seller's catalog and customers."""

from __future__ import annotations

from tortoise import fields

from core.models.accounts import Seller
from core.models.base import Language, TimestampedModel


class Product(TimestampedModel):
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="products", on_delete=fields.CASCADE
    )
    seller_id: int
    sku = fields.CharField(max_length=64)
    name = fields.CharField(max_length=255)
    description = fields.TextField(default="")
    price = fields.BigIntField()
    stock = fields.IntField(default=0)
    category = fields.CharField(max_length=64, default="", db_index=True)
    photos: fields.Field[list] = fields.JSONField(default=list)

    class Meta:
        table = "products"
        unique_together = (("seller", "sku"),)


class Customer(TimestampedModel):
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="customers", on_delete=fields.CASCADE
    )
    seller_id: int
    name = fields.CharField(max_length=128, default="")
    phone = fields.CharField(max_length=16, null=True)
    telegram_chat_id = fields.BigIntField(null=True)
    language = fields.CharEnumField(Language, max_length=2, null=True)
    marketing_consent = fields.BooleanField(default=False)
    whatsapp_last_inbound_at = fields.DatetimeField(null=True)

    class Meta:
        table = "customers"
        unique_together = (("seller", "phone"),)

"""Orders, their lines and the history of every status change."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from core.models.accounts import Seller
from core.models.base import OrderStatus, TimestampedModel
from core.models.catalog import Customer, Product


class Order(TimestampedModel):
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="orders", on_delete=fields.CASCADE
    )
    seller_id: int
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="orders", null=True, on_delete=fields.SET_NULL
    )
    customer_id: int | None
    customer_name = fields.CharField(max_length=128, default="")
    customer_phone = fields.CharField(max_length=16, null=True)
    delivery_address = fields.CharField(max_length=255, default="")
    notes = fields.TextField(default="")
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.NEW)
    total_amount = fields.BigIntField()
    tracking_number = fields.CharField(max_length=64, null=True)

    items: fields.ReverseRelation[OrderItem]
    events: fields.ReverseRelation[OrderEvent]

    class Meta:
        table = "orders"
        indexes = (("seller_id", "status"), ("seller_id", "created_at"), ("customer_id",))


class OrderItem(Model):
    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="items", on_delete=fields.CASCADE
    )
    order_id: int
    product: fields.ForeignKeyNullableRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name="order_items", null=True, on_delete=fields.SET_NULL
    )
    product_id: int | None
    name = fields.CharField(max_length=255)
    sku = fields.CharField(max_length=64, null=True)
    quantity = fields.IntField()
    unit_price = fields.BigIntField()
    line_total = fields.BigIntField()

    class Meta:
        table = "order_items"
        indexes = (("order_id",), ("product_id",))


class OrderEvent(Model):
    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="events", on_delete=fields.CASCADE
    )
    order_id: int
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    tracking_number = fields.CharField(max_length=64, null=True)
    actor = fields.CharField(max_length=64)
    note = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "order_events"
        indexes = (("order_id",),)

"""Subscription payments, the gateways' transactions behind them and merchant settings."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from core.models.accounts import Seller
from core.plans import BillingPeriod


class Provider(StrEnum):
    CLICK = "click"
    PAYME = "payme"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class TxState:
    """States of a gateway transaction, Payme's numbers (Click's map onto the same)."""

    CREATED = 1
    PERFORMED = 2
    CANCELLED = -1
    REFUNDED = -2


class Payment(Model):
    """One purchase of a plan period: the order that Click or Payme is asked to pay.

    period_start and period_end record exactly what the payment added to the plan, and
    previous_plan with previous_expires_at what it replaced, so a refund can take it back.
    """

    id = fields.BigIntField(primary_key=True)
    transaction_id = fields.CharField(max_length=64, unique=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="payments", on_delete=fields.CASCADE
    )
    seller_id: int
    provider = fields.CharEnumField(Provider, max_length=8)
    tier = fields.CharField(max_length=32)
    period = fields.CharEnumField(BillingPeriod, max_length=8)
    amount = fields.BigIntField()
    status = fields.CharEnumField(
        PaymentStatus, max_length=16, default=PaymentStatus.PENDING, db_index=True
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    expires_at = fields.DatetimeField(db_index=True)
    paid_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    refunded = fields.BooleanField(default=False)
    period_start = fields.DatetimeField(null=True)
    period_end = fields.DatetimeField(null=True)
    previous_plan = fields.CharField(max_length=32, null=True)
    previous_expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payments"
        indexes = (("seller_id", "id"),)


class ProviderTransaction(Model):
    """A gateway's transaction for a payment, unique on (provider, provider_id).

    Payme times are stored once as 13-digit milliseconds so that repeated requests get the
    same answer. Amounts are in the provider's unit, tiyin for Payme and soums for Click.
    """

    id = fields.BigIntField(primary_key=True)
    provider = fields.CharEnumField(Provider, max_length=8)
    provider_id = fields.CharField(max_length=64)
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="transactions", on_delete=fields.CASCADE
    )
    payment_id: int
    state = fields.SmallIntField(default=TxState.CREATED)
    amount = fields.BigIntField()
    provider_time = fields.BigIntField(null=True)
    create_time = fields.BigIntField()
    perform_time = fields.BigIntField(default=0)
    cancel_time = fields.BigIntField(default=0)
    reason = fields.SmallIntField(null=True)
    account: fields.Field[dict] = fields.JSONField(default=dict)
    paydoc_id = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "provider_transactions"
        unique_together = (("provider", "provider_id"),)
        indexes = (("provider", "provider_time"), ("payment_id", "state"))


class PlanNotice(Model):
    """A reminder or expiry notice already announced for one plan expiry: never twice."""

    id = fields.BigIntField(primary_key=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="plan_notices", on_delete=fields.CASCADE
    )
    seller_id: int
    kind = fields.CharField(max_length=16)
    plan_expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "plan_notices"
        unique_together = (("seller", "kind", "plan_expires_at"),)


class MerchantSetting(Model):
    """Gateway settings changed at run time (the Payme key after ChangePassword).

    A row here takes precedence over the environment, survives restarts and is shared by
    every process. Secrets are kept only as a SHA-256 digest.
    """

    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "merchant_settings"

"""Sellers, their web sessions, Telegram link codes and the audit trail."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from core.models.base import CustomerChannel, Language, TimestampedModel


class Seller(TimestampedModel):
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=255, null=True)
    full_name = fields.CharField(max_length=128, default="")
    phone = fields.CharField(max_length=16, null=True)
    telegram_id = fields.BigIntField(null=True, unique=True)
    language = fields.CharEnumField(Language, max_length=2, default=Language.UZ)
    plan = fields.CharField(max_length=32, default="free")
    plan_expires_at = fields.DatetimeField(null=True)
    is_admin = fields.BooleanField(default=False)
    is_active = fields.BooleanField(default=True)
    referral_code = fields.CharField(max_length=16, unique=True)
    referred_by: fields.ForeignKeyNullableRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="referrals", null=True, on_delete=fields.SET_NULL
    )
    referred_by_id: int | None
    campaign = fields.CharField(max_length=64, null=True)
    customer_channel = fields.CharEnumField(
        CustomerChannel, max_length=16, default=CustomerChannel.SMS
    )
    password_changed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sellers"
        indexes = (("referred_by_id",),)


class WebSession(Model):
    """A server-side session. The cookie carries only the opaque key, stored hashed."""

    key_hash = fields.CharField(max_length=64, primary_key=True)
    seller: fields.ForeignKeyNullableRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    seller_id: int | None
    data: fields.Field[dict] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "web_sessions"
        indexes = (("seller_id",),)


class TelegramLinkCode(Model):
    """A one-time code shown by `GET /api/user` that links a Telegram account in the bot."""

    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=16, unique=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="link_codes", on_delete=fields.CASCADE
    )
    seller_id: int
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "telegram_link_codes"
        indexes = (("seller_id",),)


class AuditEvent(Model):
    """Who changed what, written in the same transaction as the change it records."""

    id = fields.BigIntField(primary_key=True)
    seller: fields.ForeignKeyNullableRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="audit_events", null=True, on_delete=fields.SET_NULL
    )
    seller_id: int | None
    actor = fields.CharField(max_length=64)
    action = fields.CharField(max_length=64, db_index=True)
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64)
    data: fields.Field[dict] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_events"
        indexes = (("seller_id", "created_at"),)

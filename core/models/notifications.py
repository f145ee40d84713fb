"""The notification outbox, its batches, one-time codes and customers' Telegram invites.

Every message is a `Notification` row written before anything is sent, in the transaction
of the change that caused it. The delivery worker moves it along
queued -> sending -> sent (-> delivered) or failed, and `unconfirmed` when a worker died
between handing the message to the channel and recording the answer.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from core.models.accounts import Seller
from core.models.catalog import Customer


class Channel(StrEnum):
    TELEGRAM = "telegram"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    # The worker stopped after the channel may have accepted the message: never resent
    # automatically (a resend could be a duplicate), shown to the seller as unconfirmed.
    UNCONFIRMED = "unconfirmed"


# States in which the worker is done with a row (a sent SMS may still become delivered).
SETTLED_STATES = frozenset(
    {DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.UNCONFIRMED}
)


class MessageType(StrEnum):
    ORDER_CONFIRMATION = "order_confirmation"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"
    ORDER_CANCELLED = "order_cancelled"
    PAYMENT_RECEIVED = "payment_received"
    OTP = "otp"
    MARKETING = "marketing"
    # A seller's own words to one customer or chat.
    CUSTOM = "custom"
    # The platform's notices to a seller (payments, plan expiry).
    NOTICE = "notice"


class NotificationBatch(Model):
    """A bulk send or a broadcast: its rows carry `batch_id`, progress is counted from them."""

    id = fields.BigIntField(primary_key=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="notification_batches", on_delete=fields.CASCADE
    )
    seller_id: int
    type = fields.CharField(max_length=32)
    channel = fields.CharField(max_length=16, null=True)
    origin = fields.CharField(max_length=16, default="api")
    total = fields.IntField(default=0)
    dedupe_key = fields.CharField(max_length=160, unique=True, null=True)
    language = fields.CharField(max_length=2, default="uz")
    progress_chat_id = fields.BigIntField(null=True)
    progress_message_id = fields.BigIntField(null=True)
    progress_text = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification_batches"
        indexes = (("seller_id", "created_at"),)


class Notification(Model):
    """One message to one recipient on one channel: the unit of delivery."""

    id = fields.BigIntField(primary_key=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="notifications", on_delete=fields.CASCADE
    )
    seller_id: int
    batch: fields.ForeignKeyNullableRelation[NotificationBatch] = fields.ForeignKeyField(
        "models.NotificationBatch",
        related_name="notifications",
        null=True,
        on_delete=fields.SET_NULL,
    )
    batch_id: int | None
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="notifications", null=True, on_delete=fields.SET_NULL
    )
    customer_id: int | None
    channel = fields.CharEnumField(Channel, max_length=16)
    recipient = fields.CharField(max_length=32)
    type = fields.CharField(max_length=32)
    language = fields.CharField(max_length=2, default="uz")
    text = fields.TextField(default="")
    payload: fields.Field[dict] = fields.JSONField(default=dict)
    priority = fields.SmallIntField(default=5)
    state = fields.CharEnumField(DeliveryState, max_length=16, default=DeliveryState.QUEUED)
    attempts = fields.IntField(default=0)
    failures = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    dispatched_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    provider_message_id = fields.CharField(max_length=128, null=True)
    dedupe_key = fields.CharField(max_length=160, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    checked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications"
        indexes = (
            ("channel", "state", "priority", "next_attempt_at"),
            ("state", "lease_until"),
            ("seller_id", "created_at"),
            ("batch_id", "state"),
            ("customer_id",),
        )


class OtpCode(Model):
    """A one-time code sent by SMS: stored as an HMAC, expiring, single-use, few tries."""

    id = fields.BigIntField(primary_key=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="otp_codes", on_delete=fields.CASCADE
    )
    seller_id: int
    phone = fields.CharField(max_length=16, db_index=True)
    code_hash = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    notification: fields.ForeignKeyNullableRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="otp_codes", null=True, on_delete=fields.SET_NULL
    )
    notification_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "otp_codes"
        indexes = (("seller_id",), ("notification_id",))


class CustomerInvite(Model):
    """The secret behind a `t.me/<bot>?start=c<token>` link: a seller's, or one customer's."""

    id = fields.BigIntField(primary_key=True)
    token = fields.CharField(max_length=32, unique=True)
    seller: fields.ForeignKeyRelation[Seller] = fields.ForeignKeyField(
        "models.Seller", related_name="customer_invites", on_delete=fields.CASCADE
    )
    seller_id: int
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="invites", null=True, on_delete=fields.CASCADE
    )
    customer_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "customer_invites"
        indexes = (("seller_id", "customer_id"), ("customer_id",))

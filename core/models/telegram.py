"""Telegram updates taken for processing, so that a redelivered update is applied once."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class UpdateState(StrEnum):
    PROCESSING = "processing"
    DONE = "done"


class ProcessedUpdate(Model):
    """One Telegram update of one bot, claimed by the web process that handles it.

    The unique pair (bot_id, update_id) is the claim: the first delivery inserts the row,
    a repeat finds it. Rows older than two days are purged (Telegram keeps an undelivered
    update for 24 hours).
    """

    id = fields.BigIntField(primary_key=True)
    bot_id = fields.BigIntField()
    update_id = fields.BigIntField()
    state = fields.CharEnumField(UpdateState, max_length=16, default=UpdateState.PROCESSING)
    claimed_at = fields.DatetimeField()

    class Meta:
        table = "telegram_updates"
        unique_together = (("bot_id", "update_id"),)
        indexes = (("claimed_at",),)

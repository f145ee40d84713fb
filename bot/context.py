"""What flows from the middlewares to every handler: one object under one key, `ctx`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.i18n import t
from core.models import Seller


@dataclass(slots=True)
class BotContext:
    lang: str
    seller: Seller | None
    telegram_id: int | None

    def t(self, key: str, **values: Any) -> str:
        return t(key, self.lang, **values)

    @property
    def seller_id(self) -> int:
        if self.seller is None:
            raise LookupError("handler reached without a linked seller")
        return self.seller.id

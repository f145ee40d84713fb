"""Bot middlewares: find the seller behind the Telegram user and choose the language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from bot.context import BotContext
from core.i18n import pick_language
from core.services import accounts

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """Puts a `BotContext` into `data["ctx"]` for every update that has a user."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        seller = await accounts.by_telegram(user.id) if user else None
        lang = pick_language(
            seller.language if seller else None, user.language_code if user else None
        )
        data["ctx"] = BotContext(lang=lang, seller=seller, telegram_id=user.id if user else None)
        return await handler(event, data)

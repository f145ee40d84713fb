"""Bot middlewares: find the seller behind the Telegram user and choose the language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, User

from bot.context import BotContext
from core.i18n import pick_language
from core.services import accounts

log = logging.getLogger(__name__)

LANG_KEY = "onboarding_lang"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """Puts a `BotContext` into `data["ctx"]` for every update that has a user."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        seller = await accounts.by_telegram(user.id) if user else None
        chosen = None
        state: FSMContext | None = data.get("state")
        if seller is None and state is not None:
            # Before an account exists, the language picked in onboarding lives in the FSM.
            chosen = (await state.get_data()).get(LANG_KEY)
        lang = pick_language(
            seller.language if seller else chosen, user.language_code if user else None
        )
        data["ctx"] = BotContext(lang=lang, seller=seller, telegram_id=user.id if user else None)
        return await handler(event, data)

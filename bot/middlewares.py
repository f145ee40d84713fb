"""Bot middlewares: find the seller behind the Telegram user and choose the language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, User

from bot.context import BotContext
from core.errors import NotAuthenticated
from core.i18n import pick_language
from core.services import accounts

log = logging.getLogger(__name__)

LANG_KEY = "onboarding_lang"

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


async def resolve_context(user: User | None, state: FSMContext | None) -> BotContext:
    """The seller behind `user` and the language to speak to them."""
    seller = await accounts.by_telegram(user.id) if user else None
    chosen = None
    if seller is None and state is not None:
        # Before an account exists, the language picked in onboarding lives in the FSM.
        chosen = (await state.get_data()).get(LANG_KEY)
    lang = pick_language(
        seller.language if seller else chosen, user.language_code if user else None
    )
    return BotContext(lang=lang, seller=seller, telegram_id=user.id if user else None)


class ContextMiddleware(BaseMiddleware):
    """Puts a `BotContext` into `data["ctx"]` for every update that has a user."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["ctx"] = await resolve_context(data.get("event_from_user"), data.get("state"))
        return await handler(event, data)


class SellerRequired(BaseMiddleware):
    """For routers whose handlers need a linked seller: others are told to send /start."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        ctx: BotContext = data["ctx"]
        if ctx.seller is None:
            raise NotAuthenticated("no seller is linked to this Telegram account")
        return await handler(event, data)

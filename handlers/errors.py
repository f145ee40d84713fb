"""Core errors reaching the bot become a localized message, never silence."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import ErrorEvent, User

from bot.middlewares import resolve_context
from core.errors import AppError, ValidationFailed
from core.i18n import pick_language, t

log = logging.getLogger(__name__)
router = Router(name="errors")


def error_text(exc: AppError, lang: str) -> str:
    key = f"errors.{exc.code}"
    text = t(key, lang, **{"message": exc.message, **exc.details})
    return text if text != key else t("errors.internal_error", lang)


async def _language(user: User | None, state: FSMContext | None) -> str:
    """The seller's chosen language; Telegram's when the lookup itself is what failed."""
    try:
        return (await resolve_context(user, state)).lang
    except Exception:
        log.warning("no context for an error reply", exc_info=True)
        return pick_language(user.language_code if user else None)


@router.errors()
async def on_error(event: ErrorEvent, state: FSMContext | None = None) -> bool:
    update = event.update
    user = None
    target = update.message or (update.callback_query.message if update.callback_query else None)
    if update.message:
        user = update.message.from_user
    elif update.callback_query:
        user = update.callback_query.from_user
    lang = await _language(user, state)
    exc = event.exception
    if isinstance(exc, ValidationFailed) and update.callback_query:
        # Buttons carry only what the bot wrote: a value that does not validate is old or forged.
        text = t("common.stale_button", lang)
    elif isinstance(exc, AppError):
        text = error_text(exc, lang)
    else:
        log.error("bot update failed id=%s", update.update_id, exc_info=exc)
        text = t("errors.internal_error", lang)
    if update.callback_query:
        await update.callback_query.answer(text[:200], show_alert=True)
    elif target is not None and hasattr(target, "answer"):
        # Plain text: error templates carry no markup, and details may hold user input.
        await target.answer(text, parse_mode=None)
    return True

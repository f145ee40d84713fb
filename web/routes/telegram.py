"""`POST /telegram/webhook`: Telegram delivers the bot's updates here in webhook mode.

Any web process may receive any update. Each one is checked, claimed (`core.services.
updates`), processed by the Dispatcher, and only then answered 200; a failure answers
non-2xx and Telegram delivers the update again, and a repeat of a processed update is
acknowledged without running it twice.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.observe import PROGRESS, UpdateProgress, update_kind
from core import metrics
from core.availability import is_outage
from core.services import updates
from core.settings import Settings
from web.middlewares import outage_response
from web.responses import error, json_response

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass(slots=True)
class TelegramWebhook:
    bot: Bot
    dispatcher: Dispatcher
    secret: str
    # A claim older than this is a process that died mid-update: another may take it.
    stale_after: float


TELEGRAM = web.AppKey("scx.telegram", TelegramWebhook)


def webhook_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + WEBHOOK_PATH


def _secret_ok(request: web.Request, secret: str) -> bool:
    given = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), secret.encode())


async def receive_update(request: web.Request) -> web.Response:
    """Process one update, then answer: 200 done, 401 bad secret, 503/500 to be redelivered."""
    hook = request.app[TELEGRAM]
    if not _secret_ok(request, hook.secret):
        log.warning("telegram webhook: wrong secret token")
        metrics.BOT_UPDATES.labels("unknown", "rejected").inc()
        return error(401, "not_authenticated", "wrong secret token")
    try:
        update = Update.model_validate(await request.json(), context={"bot": hook.bot})
    except (ValueError, ValidationError):
        return error(400, "bad_request", "not a Telegram update")
    with structlog.contextvars.bound_contextvars(update_id=update.update_id):
        return await _process(hook, update)


async def _process(hook: TelegramWebhook, update: Update) -> web.Response:
    bot_id, update_id = hook.bot.id, update.update_id
    claim = await updates.claim(bot_id, update_id, stale_after=hook.stale_after)
    if claim is not updates.Claim.TAKEN:
        metrics.BOT_UPDATES.labels(update_kind(update), claim.value).inc()
        if claim is updates.Claim.BUSY:
            return error(503, "update_in_progress", "this update is being processed")
        log.info("telegram update already processed id=%s", update_id)
        return json_response({"success": True, "duplicate": True})
    progress = UpdateProgress()
    try:
        await hook.dispatcher.feed_update(hook.bot, update, **{PROGRESS: progress})
    except BaseException as exc:
        if progress.handled:
            # The handlers ran (their messages are sent): running them again would repeat
            # them, so a failure after them (releasing the chat's lock, say) is not retried.
            await _finish(bot_id, update_id)
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.warning("telegram update handled, then failed id=%s error=%r", update_id, exc)
            return json_response({"success": True})
        await _release(bot_id, update_id)
        if isinstance(exc, Exception) and is_outage(exc):
            return outage_response(exc, WEBHOOK_PATH)
        raise
    await _finish(bot_id, update_id)
    return json_response({"success": True})


async def _finish(bot_id: int, update_id: int) -> None:
    """Mark the update done; if the database cannot take that now, still answer 200: the
    update was processed, and only a repeat delivery (after the claim goes stale) could
    run it again."""
    try:
        await updates.finish(bot_id, update_id)
    except Exception:
        log.warning("could not mark telegram update done id=%s", update_id, exc_info=True)


async def _release(bot_id: int, update_id: int) -> None:
    try:
        await updates.release(bot_id, update_id)
    except Exception:
        # The claim then goes stale and the next delivery after `stale_after` takes it.
        log.warning("could not release telegram update id=%s", update_id, exc_info=True)


def setup(app: web.Application, hook: TelegramWebhook) -> None:
    app[TELEGRAM] = hook
    app.router.add_post(WEBHOOK_PATH, receive_update)

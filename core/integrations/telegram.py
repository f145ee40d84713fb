"""A Bot API client for delivery: sendMessage and editMessageText over httpx.

The bot's handlers use aiogram; the delivery worker lives in `core/` (which imports no
aiogram) and needs only two methods, so it speaks the Bot API directly:
`POST {TELEGRAM_API_URL}/bot{TOKEN}/{method}` with a JSON body, answer
`{"ok": true, "result"}` or `{"ok": false, "error_code", "description", "parameters"}`.

Errors: 429 -> Throttled(parameters.retry_after); 403 (the user blocked the bot, or is
deactivated) and 400 "chat not found" -> PermanentFailure; other 400s (bad markup, too long)
-> PermanentFailure; 401/404 (a wrong token) -> ChannelUnavailable; 5xx -> TemporaryFailure.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from core.integrations.delivery import (
    ChannelUnavailable,
    DeliveryError,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
)
from core.integrations.http import new_client, transport_error
from core.settings import Settings

log = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"


class TelegramClient:
    """The platform bot, as seen by the delivery worker."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        if settings.bot_token is None or not settings.bot_token.get_secret_value():
            raise ValueError("BOT_TOKEN is not set")
        token = settings.bot_token.get_secret_value()
        self._prefix = f"{settings.telegram_api_url.rstrip('/')}/bot{token}/"
        self._http = http or new_client(settings.channel_timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_markup: dict[str, Any] | None = None,
    ) -> str:
        """Send a text message; returns Telegram's message_id."""
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if parse_mode:
            params["parse_mode"] = parse_mode
        if reply_markup:
            params["reply_markup"] = reply_markup
        result = await self._call("sendMessage", params)
        return str(result["message_id"])

    async def edit_message_text(
        self,
        chat_id: int | str,
        message_id: int | str,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_markup: dict[str, Any] | None = None,
    ) -> None:
        """Replace a message's text; an edit to the same text is not an error."""
        params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text}
        if parse_mode:
            params["parse_mode"] = parse_mode
        if reply_markup:
            params["reply_markup"] = reply_markup
        try:
            await self._call("editMessageText", params)
        except PermanentFailure as exc:
            if NOT_MODIFIED not in exc.reason:
                raise

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            response = await self._http.post(self._prefix + method, json=params)
        except httpx.HTTPError as exc:
            raise transport_error("telegram", exc) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and isinstance(body, dict) and body.get("ok"):
            return body.get("result")
        raise _error(response.status_code, body if isinstance(body, dict) else {})


def _error(status: int, body: dict[str, Any]) -> DeliveryError:
    description = str(body.get("description") or f"HTTP {status}")
    code = int(body.get("error_code") or status)
    reason = f"telegram {code}: {description}"
    parameters = body.get("parameters") or {}
    if code == 429:
        return Throttled(reason, float(parameters.get("retry_after") or 1))
    if code == 403:
        return PermanentFailure(reason, blocked=True)
    if code in (401, 404):
        log.error("telegram refused the bot token (%s)", code)
        return ChannelUnavailable(reason, retry_after=60)
    if 400 <= code < 500:
        return PermanentFailure(reason)
    return TemporaryFailure(reason)

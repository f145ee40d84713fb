"""A WhatsApp Business Cloud API client: text and template messages over httpx.

`POST {WHATSAPP_API_URL}/{phone_number_id}/messages` (the URL setting carries the Graph
version, `https://graph.facebook.com/v21.0`), `Authorization: Bearer TOKEN`, body with
`"messaging_product": "whatsapp"`. Success: `{"messages": [{"id": "wamid..."}]}`; errors:
`{"error": {"code", "message", "error_data": {"details"}}}`.

Error codes read here: 130429 throughput (pause the number), 131056 too many to one
recipient (pause that pair), 131047 outside the 24-hour window (send the template instead),
131000 and 5xx (retry), 190 and other auth errors (pause: the token is wrong), 4 and 80007
(the app's own rate limit), anything else 4xx (this message cannot go).
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
    WindowClosed,
)
from core.integrations.http import new_client, transport_error
from core.settings import Settings

log = logging.getLogger(__name__)

MAX_TEXT = 4096
THROUGHPUT = 130429
PAIR_LIMIT = 131056
WINDOW_CLOSED = 131047
_TEMPORARY = frozenset({1, 2, 131000, 131016, 133004})
_AUTH = frozenset({3, 10, 190, 200})
_APP_RATE = frozenset({4, 80007, 130472})


class WhatsAppClient:
    """One business phone number's sender."""

    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        token = settings.whatsapp_token.get_secret_value()
        if not token or not settings.whatsapp_phone_number_id:
            raise ValueError("WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID must be set")
        base = settings.whatsapp_api_url.rstrip("/")
        self._url = f"{base}/{settings.whatsapp_phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._recipient_pause = settings.whatsapp_recipient_interval
        self._http = http or new_client(settings.channel_timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send_text(self, to: str, body: str) -> str:
        """Free-form text: only inside the 24-hour window."""
        return await self._send(to, {"type": "text", "text": {"body": body[:MAX_TEXT]}})

    async def send_template(self, to: str, name: str, language: str, parameters: list[str]) -> str:
        """An approved template with body parameters, in order."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": value} for value in parameters],
                }
            ]
        return await self._send(to, {"type": "template", "template": template})

    async def _send(self, to: str, message: dict[str, Any]) -> str:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(message)
        try:
            response = await self._http.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise transport_error("whatsapp", exc) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and isinstance(answer, dict) and answer.get("messages"):
            return str(answer["messages"][0]["id"])
        raise self._error(response.status_code, answer if isinstance(answer, dict) else {})

    def _error(self, status: int, answer: dict[str, Any]) -> DeliveryError:
        error = answer.get("error") or {}
        code = int(error.get("code") or 0)
        details = (error.get("error_data") or {}).get("details") or ""
        reason = f"whatsapp {code or status}: {error.get('message') or 'HTTP ' + str(status)}"
        if details:
            reason += f" ({details})"
        if code == THROUGHPUT or (status == 429 and code not in _APP_RATE):
            return Throttled(reason, 1.0)
        if code == PAIR_LIMIT:
            return Throttled(reason, self._recipient_pause, scope="recipient")
        if code == WINDOW_CLOSED:
            return WindowClosed(reason)
        if code in _APP_RATE:
            return ChannelUnavailable(reason, retry_after=60)
        if code in _AUTH or status == 401:
            log.error("whatsapp refused the access token code=%s", code)
            return ChannelUnavailable(reason, retry_after=60)
        if code in _TEMPORARY or status >= 500:
            return TemporaryFailure(reason)
        return PermanentFailure(reason)

"""What WhatsApp tells us: customers' messages (the 24-hour window) and delivery reports.

Meta posts `{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {"messages": [...], "statuses": [...]}}]}]}`, signed with the app secret
in `X-Hub-Signature-256: sha256=<hex HMAC of the raw body>`.
- `messages[].from` (the customer's number) and `timestamp`: free-form text may go to that
  number for 24 hours, so every customer with that phone gets `whatsapp_last_inbound_at`.
- `statuses[].id` (our `provider_message_id`) with `status` sent, delivered, read or failed
  (`errors[].title`): the outbox row becomes delivered, or failed with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from core.models import Channel, Customer, DeliveryState, Notification
from core.settings import get_settings

log = logging.getLogger(__name__)

S = DeliveryState
SIGNATURE_HEADER = "X-Hub-Signature-256"
_DELIVERED = frozenset({"delivered", "read"})


def signature_ok(body: bytes, header: str | None) -> bool:
    """The body was signed with our app secret (never true when none is configured)."""
    secret = get_settings().whatsapp_app_secret.get_secret_value()
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def challenge(mode: str | None, token: str | None, value: str | None) -> str | None:
    """Meta's subscription check: the challenge to echo, or None to refuse."""
    expected = get_settings().whatsapp_verify_token.get_secret_value()
    if mode != "subscribe" or not expected or value is None:
        return None
    if not hmac.compare_digest((token or "").encode(), expected.encode()):
        return None
    return value


def _moment(raw: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _values(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        return []
    found = []
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value")
            if isinstance(value, dict):
                found.append(value)
    return found


async def _inbound(message: dict[str, Any]) -> int:
    phone = "".join(ch for ch in str(message.get("from") or "") if ch.isdigit())
    if not phone:
        return 0
    at = _moment(message.get("timestamp"))
    return await Customer.filter(phone=phone).update(whatsapp_last_inbound_at=at)


async def _status(report: dict[str, Any]) -> int:
    message_id, status = str(report.get("id") or ""), str(report.get("status") or "")
    if not message_id:
        return 0
    rows = Notification.filter(channel=Channel.WHATSAPP, provider_message_id=message_id)
    if status in _DELIVERED:
        return await rows.filter(state=S.SENT).update(
            state=S.DELIVERED, delivered_at=_moment(report.get("timestamp"))
        )
    if status == "failed":
        errors = report.get("errors") or [{}]
        reason = f"whatsapp: {errors[0].get('title') or errors[0].get('code') or 'failed'}"
        return await rows.filter(state__in=[S.SENT, S.DELIVERED]).update(
            state=S.FAILED, last_error=reason[:500]
        )
    return 0


async def handle(payload: Any) -> Counter[str]:
    """Apply one webhook delivery; counts of what changed."""
    done: Counter[str] = Counter()
    for value in _values(payload):
        for message in value.get("messages") or []:
            if isinstance(message, dict):
                done["customers"] += await _inbound(message)
        for report in value.get("statuses") or []:
            if isinstance(report, dict):
                done["statuses"] += await _status(report)
    log.debug("whatsapp webhook applied %s", dict(done))
    return done

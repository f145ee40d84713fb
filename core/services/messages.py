"""Message types, their texts in uz/ru/en and their WhatsApp template form.

Texts live in `locales/<lang>/notifications.toml` under `notifications.msg.<type>`; every
one takes `{shop}` and the values its type needs (`VALUES`). Telegram gets HTML with the
values escaped; SMS and WhatsApp get plain text.

Outside WhatsApp's 24-hour window only an approved template may be sent. Each type has
one, named after the type (`order_shipped`, ...), in the customer's language, with the body
parameters `TEMPLATE_PARAMS` in that order; they must be approved under these names in the
WhatsApp Business Manager.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ValidationFailed
from core.formatting import format_money
from core.i18n import pick_language, t
from core.models import Channel, MessageType
from core.settings import get_settings

T = MessageType
# The values each type's text needs, besides {shop}.
VALUES: dict[MessageType, tuple[str, ...]] = {
    T.ORDER_CONFIRMATION: ("order_id", "total"),
    T.ORDER_SHIPPED: ("order_id", "tracking"),
    T.ORDER_DELIVERED: ("order_id",),
    T.ORDER_CANCELLED: ("order_id",),
    T.PAYMENT_RECEIVED: ("amount",),
    T.OTP: ("code", "minutes"),
    T.MARKETING: ("text",),
    T.CUSTOM: ("text",),
    T.NOTICE: ("text",),
}
TEMPLATE_PARAMS: dict[MessageType, tuple[str, ...]] = {
    kind: ("shop", *names) if kind is not T.OTP else names for kind, names in VALUES.items()
}
# How REST clients name the values in `data`.
WIRE_NAMES = {
    "order_id": "orderId",
    "total": "total",
    "tracking": "trackingNumber",
    "amount": "amount",
    "code": "code",
    "minutes": "minutes",
    "text": "text",
}
MONEY = frozenset({"total", "amount"})
WINDOW = timedelta(hours=24)
MAX_VALUE = 1000


def otp_minutes() -> int:
    return max(1, get_settings().otp_ttl_seconds // 60)


def text_key(kind: MessageType) -> str:
    return f"notifications.msg.{kind.value}"


def render(kind: MessageType, language: str, values: Mapping[str, Any], *, html_mode: bool) -> str:
    """The message in `language`; values are escaped for Telegram's HTML."""
    clean = {key: str(value) for key, value in values.items()}
    if html_mode:
        clean = {key: html.escape(value, quote=False) for key, value in clean.items()}
    return t(text_key(kind), pick_language(language), **clean)


def window_open(last_inbound: datetime | None, at: datetime | None = None) -> bool:
    """Whether free-form WhatsApp text may go: the customer wrote within 24 hours."""
    if last_inbound is None:
        return False
    return (at or datetime.now(UTC)) - last_inbound < WINDOW


def whatsapp_template(
    kind: MessageType, language: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """The approved-template form of a message (name, language code, body parameters)."""
    params = [str(values.get(name, ""))[:MAX_VALUE] for name in TEMPLATE_PARAMS[kind]]
    return {"name": kind.value, "language": pick_language(language), "params": params}


def compose(
    channel: Channel,
    kind: MessageType,
    language: str,
    values: Mapping[str, Any],
    *,
    whatsapp_window: bool = False,
    reply_markup: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """(text, payload) of one message on one channel."""
    if channel is Channel.TELEGRAM:
        payload: dict[str, Any] = {"parse_mode": "HTML"}
        if reply_markup:
            payload["reply_markup"] = reply_markup
        return render(kind, language, values, html_mode=True), payload
    text = render(kind, language, values, html_mode=False)
    if channel is Channel.WHATSAPP:
        mode = "text" if whatsapp_window else "template"
        return text, {"mode": mode, "template": whatsapp_template(kind, language, values)}
    return text, {}


def values_from_wire(
    kind: MessageType, data: Mapping[str, Any], language: str, field: str = "data"
) -> dict[str, str]:
    """A REST client's `data` as template values; names the first missing or bad field."""
    values: dict[str, str] = {}
    for name in VALUES[kind]:
        wire = WIRE_NAMES[name]
        raw = data.get(wire, data.get(name))
        if name == "minutes" and raw is None:
            values[name] = str(otp_minutes())
            continue
        if raw is None or isinstance(raw, dict | list) or str(raw).strip() == "":
            raise ValidationFailed(f"{field}.{wire}", f"{wire} is required for {kind.value}")
        values[name] = _wire_value(name, raw, language, f"{field}.{wire}")
    return values


def _wire_value(name: str, raw: Any, language: str, field: str) -> str:
    if name in MONEY and not isinstance(raw, bool) and isinstance(raw, int | str):
        try:
            return format_money(int(raw), language)
        except ValueError:
            pass
    value = str(raw).strip()
    if len(value) > MAX_VALUE:
        raise ValidationFailed(field, f"{field} is too long")
    return value

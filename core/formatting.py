"""Numbers, money and dates as people read them, shared by the bot, the web and notifications.

Thousands are grouped with a plain ASCII space (a comma in English): a no-break space would
push an SMS into UCS-2 and halve what fits in one part.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from core.errors import ValidationFailed
from core.i18n import pick_language, t

# Sellers and their customers live in Uzbekistan; times are stored in UTC.
LOCAL_TIMEZONE = ZoneInfo("Asia/Tashkent")

_SEPARATORS = {"uz": " ", "ru": " ", "en": ","}
_MAX_INPUT = 32
_CURRENCY_SUFFIX = re.compile(r"\s*(so['ʻ‘’`]?m|sum|сум|uzs)\.?$", re.IGNORECASE)
_PLAIN = re.compile(r"^[+-]?\d+$")
# Groups of three after the first, all with the same separator: "1 250 000", "1,250,000".
_GROUPED = re.compile(r"^[+-]?\d{1,3}([ ,.'\u00a0\u202f])\d{3}(?:\1\d{3})*$")


def format_number(value: int, language: str | None = None) -> str:
    """`1250000` as `1 250 000` (uz, ru) or `1,250,000` (en)."""
    grouped = f"{abs(value):,}".replace(",", _SEPARATORS[pick_language(language)])
    return f"-{grouped}" if value < 0 else grouped


def format_money(amount: int, language: str | None = None) -> str:
    """Whole UZS with the currency: `1 250 000 so'm`, `1 250 000 сум`, `1,250,000 UZS`."""
    return t("money.amount", language, amount=format_number(amount, language))


def format_datetime(moment: datetime) -> str:
    """`12.03.2025 14:05` in Tashkent time."""
    return moment.astimezone(LOCAL_TIMEZONE).strftime("%d.%m.%Y %H:%M")


def format_phone(digits: str) -> str:
    """`998901234567` (as the core keeps numbers) as `+998 90 123 45 67`."""
    if len(digits) != 12 or not digits.isdigit():
        return digits
    d = digits
    return f"+{d[:3]} {d[3:5]} {d[5:8]} {d[8:10]} {d[10:]}"


def parse_whole_number(text: str | None, field: str) -> int:
    """A whole number typed by a person: `250000`, `250 000`, `250,000`, `250 000 so'm`.

    Raises `ValidationFailed(field)` for anything else (decimals, letters, empty text); the
    sign is kept, so range checks stay with the schema that owns the field.
    """
    cleaned = _CURRENCY_SUFFIX.sub("", (text or "").strip())
    if len(cleaned) > _MAX_INPUT or not (_PLAIN.match(cleaned) or _GROUPED.match(cleaned)):
        raise ValidationFailed(field, "expected a whole number")
    return int(re.sub(r"[^\d+-]", "", cleaned))

"""Phone numbers: every number the core keeps is Uzbek, as 998XXXXXXXXX digits."""

from __future__ import annotations

import re

import phonenumbers

from core.errors import ValidationFailed

_DIGITS = re.compile(r"\D+")


def normalise_phone(raw: str, field: str = "phone") -> str:
    """Return 998XXXXXXXXX for any common way of writing an Uzbek mobile or landline."""
    digits = _DIGITS.sub("", raw or "")
    if len(digits) == 9:
        digits = "998" + digits
    if len(digits) != 12 or not digits.startswith("998"):
        raise ValidationFailed(field, "phone must be an Uzbek number: 998XXXXXXXXX")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(field, "phone number cannot be parsed") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(field, "phone number is not a valid Uzbek number")
    return digits

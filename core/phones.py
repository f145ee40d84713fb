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


# --- the documented shape -------------------------------------------------------------------
# What REST bodies accept as a phone, and the OpenAPI pattern that says so: an Uzbek *mobile*
# number (SMS and WhatsApp reach nothing else), with or without +998, spaces or dashes
# between the groups and brackets around the operator code. Every number it matches is valid
# for phonenumbers too (tests/core/test_phones.py), so a documented-valid phone is never
# refused. The operator codes are the mobile ranges of phonenumbers' metadata for UZ.
MOBILE_CODES = (
    "20",
    "33",
    "50",
    "70",
    "77",
    "80",
    "87",
    "88",
    "90",
    "91",
    "92",
    "93",
    "94",
    "95",
    "97",
    "98",
    "99",
)
UZ_PHONE_PATTERN = (
    r"^\+?(?:998[ -]?)?\(?(?:" + "|".join(MOBILE_CODES) + r")\)?"
    r"[ -]?[0-9]{3}[ -]?[0-9]{2}[ -]?[0-9]{2}$"
)
_UZ_PHONE = re.compile(UZ_PHONE_PATTERN)


def check_phone_text(value: str) -> str:
    """A pydantic validator: the text is an Uzbek mobile number as UZ_PHONE_PATTERN says."""
    # `search` with ^...$ reads the pattern as the document's regex is read by generators.
    if not _UZ_PHONE.search(value):
        raise ValueError("must be an Uzbek mobile number, such as +998 90 123 45 67")
    return value

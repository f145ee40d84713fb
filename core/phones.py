"""Phone numbers: every number the core keeps is Uzbek, as 998XXXXXXXXX digits."""

from __future__ import annotations

import re
from re import _constants as sre_constants  # the regex parser: see _with_separators
from re import _parser as sre_parse
from typing import Any

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
# The OpenAPI pattern of a phone field, built from the same phonenumbers metadata that
# normalise_phone checks against: any text it matches is a valid Uzbek number, so a client
# (or a fuzzer) that follows the document is never refused for the number itself.

_SEPARATOR = "[ ().-]{0,2}"


def _char_class(items: list[tuple[Any, Any]]) -> str:
    parts = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            parts.append(re.escape(chr(arg)))
        elif op is sre_constants.RANGE:
            parts.append(f"{chr(arg[0])}-{chr(arg[1])}")
        elif op is sre_constants.CATEGORY and arg is sre_constants.CATEGORY_DIGIT:
            parts.append("0-9")
        else:
            raise ValueError(f"unexpected class item {op}")
    return "[" + "".join(parts) + "]"


def _with_separators(tokens: Any) -> str:
    """The parsed regex again, with optional separators before every digit."""
    out = []
    for op, arg in tokens:
        if op is sre_constants.LITERAL:
            out.append(_SEPARATOR + re.escape(chr(arg)))
        elif op is sre_constants.IN:
            out.append(_SEPARATOR + _char_class(arg))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = arg
            count = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
            out.append(f"(?:{_with_separators(sub)}){count}")
        elif op is sre_constants.SUBPATTERN:
            out.append(f"(?:{_with_separators(arg[3])})")
        elif op is sre_constants.BRANCH:
            out.append("(?:" + "|".join(_with_separators(alt) for alt in arg[1]) + ")")
        else:
            raise ValueError(f"unexpected regex node {op}")
    return "".join(out)


def _uz_phone_pattern() -> str:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("UZ")
    assert metadata is not None and metadata.fixed_line and metadata.mobile
    national = (
        f"(?:{metadata.fixed_line.national_number_pattern}"
        f"|{metadata.mobile.national_number_pattern})"
    )
    country = f"(?:{_SEPARATOR}9{_SEPARATOR}9{_SEPARATOR}8)?"
    return rf"^\+?{country}{_with_separators(sre_parse.parse(national))}$"


UZ_PHONE_PATTERN = _uz_phone_pattern()
_UZ_PHONE = re.compile(UZ_PHONE_PATTERN)


def check_phone_text(value: str) -> str:
    """A pydantic validator: the text is an Uzbek number as UZ_PHONE_PATTERN documents."""
    # `search` with ^...$ reads the pattern as the document's regex is read by generators.
    if not _UZ_PHONE.search(value):
        raise ValueError("must be an Uzbek phone number, such as +998 90 123 45 67")
    return value

"""The documented phone pattern: everything it matches is a valid Uzbek mobile number."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.phones import UZ_PHONE_PATTERN, check_phone_text, normalise_phone


@settings(max_examples=300, deadline=None, database=None)
@given(st.from_regex(UZ_PHONE_PATTERN))
def test_whatever_the_pattern_allows_is_a_valid_mobile_number(text: str) -> None:
    digits = normalise_phone(text)
    number = phonenumbers.parse("+" + digits)
    assert phonenumbers.is_valid_number(number)
    assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


@pytest.mark.parametrize(
    "text",
    [
        "+998 90 123 45 67",
        "+998901234567",
        "998901234567",
        "90 123 45 67",
        "901234567",
        "(90) 123-45-67",
        "+998 (33) 123-45-67",
        "998-77-123-45-67",
    ],
)
def test_the_usual_ways_of_writing_a_number(text: str) -> None:
    assert check_phone_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12",
        "99890123",
        "71 123 45 67",
        "+1 202 555 0100",
        "90 123 45 67 8",
        "+998 00 123 45 67",
    ],
)
def test_everything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        check_phone_text(text)

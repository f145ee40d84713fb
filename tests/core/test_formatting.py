from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import ValidationFailed
from core.formatting import (
    format_datetime,
    format_money,
    format_number,
    format_phone,
    parse_whole_number,
)


@pytest.mark.parametrize(
    ("amount", "lang", "expected"),
    [
        (1_250_000, "uz", "1 250 000 so'm"),
        (1_250_000, "ru", "1 250 000 сум"),
        (1_250_000, "en", "1,250,000 UZS"),
        (0, "uz", "0 so'm"),
        (999, "ru", "999 сум"),
        (1000, "en", "1,000 UZS"),
        (-25_000, "uz", "-25 000 so'm"),
        (300_000, None, "300 000 so'm"),
    ],
)
def test_format_money(amount: int, lang: str | None, expected: str) -> None:
    assert format_money(amount, lang) == expected


def test_numbers_are_grouped_with_plain_spaces() -> None:
    # A no-break space would turn an SMS into UCS-2.
    assert format_number(12_345_678, "ru").encode("ascii") == b"12 345 678"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250000", 250_000),
        ("250 000", 250_000),
        (" 1 250 000 ", 1_250_000),
        ("1,250,000", 1_250_000),
        ("1.250.000", 1_250_000),
        ("250\u00a0000", 250_000),
        ("250 000 so'm", 250_000),
        ("250 000 сум", 250_000),
        ("250000 UZS", 250_000),
        ("0", 0),
        ("-5", -5),
        ("+7", 7),
    ],
)
def test_parse_whole_number(text: str, expected: int) -> None:
    assert parse_whole_number(text, "price") == expected


@pytest.mark.parametrize(
    "text",
    ["", None, "abc", "1.5", "12 34", "1 250,000", "1,25,000", "250k", "9" * 40, "- 5", "5-"],
)
def test_parse_whole_number_rejects(text: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_whole_number(text, "stockQuantity")
    assert caught.value.field == "stockQuantity"


def test_dates_are_shown_in_tashkent_time() -> None:
    assert format_datetime(datetime(2025, 3, 12, 21, 5, tzinfo=UTC)) == "13.03.2025 02:05"


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("998901234567", "+998 90 123 45 67"), ("12345", "12345")],
)
def test_format_phone(digits: str, expected: str) -> None:
    assert format_phone(digits) == expected

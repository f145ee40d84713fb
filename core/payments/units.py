"""The one place where soums become tiyin and datetimes become Payme's milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

TIYIN_PER_SOUM = 100


def to_tiyin(soums: int) -> int:
    return soums * TIYIN_PER_SOUM


def now() -> datetime:
    return datetime.now(UTC)


def to_ms(moment: datetime) -> int:
    """13-digit UTC milliseconds, as Payme writes every time."""
    return int(moment.timestamp() * 1000)


def now_ms() -> int:
    return to_ms(now())


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)

"""How a paid period changes a plan and how a refund takes it back (in memory, no gateway)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Payment, Seller
from core.payments.subscription import activate, period_length, refundable, revoke

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def seller(plan: str = "free", expires: datetime | None = None) -> Seller:
    return Seller(username="s", plan=plan, plan_expires_at=expires, referral_code="R")


def payment(tier: str = "starter_pro", period: str = "monthly") -> Payment:
    return Payment(transaction_id="SUB-1-1", tier=tier, period=period, amount=1)


@pytest.mark.parametrize(("period", "days"), [("monthly", 30), ("yearly", 365)])
def test_period_lengths(period: str, days: int) -> None:
    assert period_length(period) == timedelta(days=days)


@pytest.mark.parametrize(
    ("plan", "expires", "tier", "start"),
    [
        ("free", None, "starter_pro", NOW),
        ("starter_pro", NOW + 5 * DAY, "starter_pro", NOW + 5 * DAY),
        ("starter_pro", NOW - 5 * DAY, "starter_pro", NOW),
        ("premium", NOW + 5 * DAY, "starter_pro", NOW + 5 * DAY),  # days left are kept
        ("starter_pro", NOW + 5 * DAY, "premium", NOW + 5 * DAY),  # and lifted to premium
        ("starter_pro", None, "starter_pro", NOW),
    ],
)
def test_activation_starts_at_the_later_of_now_and_expiry(
    database: None, plan: str, expires: datetime | None, tier: str, start: datetime
) -> None:
    s, p = seller(plan, expires), payment(tier)

    change = activate(s, p, NOW)

    assert (s.plan, s.plan_expires_at) == (tier, start + 30 * DAY)
    assert (p.period_start, p.period_end) == (start, start + 30 * DAY)
    assert (change.old_plan, change.new_plan) == (plan, tier)


def test_refund_of_an_extension_moves_the_expiry_back(database: None) -> None:
    s = seller("starter_pro", NOW + 10 * DAY)
    p = payment(period="yearly")
    activate(s, p, NOW)

    revoke(s, p, NOW + DAY)

    assert (s.plan, s.plan_expires_at) == ("starter_pro", NOW + 10 * DAY)


def test_refund_of_a_tier_switch_restores_the_old_tier(database: None) -> None:
    s = seller("premium", NOW + 10 * DAY)
    p = payment("starter_pro")
    activate(s, p, NOW)

    revoke(s, p, NOW + DAY)

    assert (s.plan, s.plan_expires_at) == ("premium", NOW + 10 * DAY)


def test_refund_after_the_old_tier_would_have_ended_returns_to_free(database: None) -> None:
    s = seller("premium", NOW + 2 * DAY)
    p = payment("starter_pro")
    activate(s, p, NOW)

    revoke(s, p, NOW + 3 * DAY)

    assert (s.plan, s.plan_expires_at) == ("free", None)


def test_refund_after_moving_to_another_tier_takes_back_its_days(database: None) -> None:
    s = seller()
    first = payment("starter_pro")
    activate(s, first, NOW)
    activate(s, payment("premium"), NOW + DAY)
    assert (s.plan, s.plan_expires_at) == ("premium", NOW + 60 * DAY)

    revoke(s, first, NOW + 2 * DAY)

    assert (s.plan, s.plan_expires_at) == ("premium", NOW + 30 * DAY)


def test_refund_of_an_upgrade_with_extensions_after_it_keeps_the_new_tier(
    database: None,
) -> None:
    s = seller("starter_pro", NOW + 10 * DAY)
    upgrade, extension = payment("premium"), payment("premium")
    activate(s, upgrade, NOW)
    activate(s, extension, NOW + DAY)
    assert (s.plan, s.plan_expires_at) == ("premium", NOW + 70 * DAY)

    revoke(s, upgrade, NOW + 2 * DAY)

    assert (s.plan, s.plan_expires_at) == ("premium", NOW + 40 * DAY)


def test_refund_of_a_period_bought_over_a_hand_granted_plan_restores_it(
    database: None,
) -> None:
    s = seller("enterprise", None)
    p = payment("premium")
    activate(s, p, NOW)
    assert (s.plan, s.plan_expires_at) == ("premium", NOW + 30 * DAY)

    revoke(s, p, NOW + DAY)

    assert (s.plan, s.plan_expires_at) == ("enterprise", None)


def test_refundable_until_the_period_is_delivered(database: None) -> None:
    p = payment()
    activate(seller(), p, NOW)
    assert refundable(p, NOW + 29 * DAY)
    assert not refundable(p, NOW + 30 * DAY)

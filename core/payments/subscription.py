"""How a paid period changes a seller's plan, and how a refund takes it back.

Rules (the seller's `plan` and `plan_expires_at`):
- A period is 30 days for `monthly` and 365 days for `yearly`, counted in exact days from
  the moment it starts.
- A paid period starts at the later of now and the current expiry: time already paid for is
  never lost. The tier bought applies at once, to the remaining time too (an upgrade lifts
  the days left; a downgrade keeps them, at the new tier). Free, expired, or a plan granted
  by hand without an expiry: the period starts now.
- A refund takes back exactly the period that payment added: the expiry moves back by the
  period's length. When that leaves no more than the time the payment found, the tier it
  replaced comes back; when it leaves nothing, the seller is on `free` (or back on a plan
  granted by hand, which has no end).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Payment, Seller
from core.plans import FREE, BillingPeriod

PERIOD_DAYS = {BillingPeriod.MONTHLY: 30, BillingPeriod.YEARLY: 365}


def period_length(period: BillingPeriod | str) -> timedelta:
    return timedelta(days=PERIOD_DAYS[BillingPeriod(period)])


def in_force(seller: Seller, now: datetime) -> bool:
    """A paid plan whose expiry is still ahead (no expiry: granted by hand, no end)."""
    if seller.plan == FREE.tier:
        return False
    return seller.plan_expires_at is None or seller.plan_expires_at > now


@dataclass(frozen=True, slots=True)
class PlanChange:
    old_plan: str
    old_expires_at: datetime | None
    new_plan: str
    new_expires_at: datetime | None

    def as_audit(self) -> dict[str, str | None]:
        return {
            "old_plan": self.old_plan,
            "old_expires_at": _iso(self.old_expires_at),
            "new_plan": self.new_plan,
            "new_expires_at": _iso(self.new_expires_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def activate(seller: Seller, payment: Payment, now: datetime) -> PlanChange:
    """Apply a paid period to the seller (in memory); record on the payment what it added."""
    old_plan, old_expiry = seller.plan, seller.plan_expires_at
    paid_ahead = seller.plan != FREE.tier and old_expiry is not None and old_expiry > now
    start = old_expiry if paid_ahead and old_expiry is not None else now
    end = start + period_length(payment.period)
    payment.period_start, payment.period_end = start, end
    payment.previous_plan, payment.previous_expires_at = old_plan, old_expiry
    seller.plan, seller.plan_expires_at = payment.tier, end
    return PlanChange(old_plan, old_expiry, seller.plan, end)


def refundable(payment: Payment, now: datetime) -> bool:
    """A refund is possible while the period the payment added has not fully passed."""
    return payment.period_end is None or payment.period_end > now


def revoke(seller: Seller, payment: Payment, now: datetime) -> PlanChange:
    """Take back what `activate` gave for this payment (in memory)."""
    old_plan, old_expiry = seller.plan, seller.plan_expires_at
    if payment.period_start is None or payment.period_end is None:
        return PlanChange(old_plan, old_expiry, old_plan, old_expiry)
    if seller.plan == FREE.tier or seller.plan_expires_at is None:
        # Nothing of it is left (the plan ran out), or a plan granted by hand replaced it.
        return PlanChange(old_plan, old_expiry, old_plan, old_expiry)
    previous = payment.previous_plan or FREE.tier
    replaced_other_tier = previous not in (FREE.tier, payment.tier) and seller.plan == payment.tier
    left = seller.plan_expires_at - (payment.period_end - payment.period_start)
    if replaced_other_tier and payment.previous_expires_at is None:
        seller.plan, seller.plan_expires_at = previous, None  # the hand-granted plan returns
    elif left <= now:
        seller.plan, seller.plan_expires_at = FREE.tier, None
    else:
        seller.plan_expires_at = left
        previous_end = payment.previous_expires_at
        if replaced_other_tier and previous_end is not None and left <= previous_end:
            seller.plan = previous
    return PlanChange(old_plan, old_expiry, seller.plan, seller.plan_expires_at)

"""The plan catalog, kept as data: prices in whole UZS, rate class and features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from core.errors import NotFound, PlanRequired, ValidationFailed


class BillingPeriod(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Feature(StrEnum):
    CATALOG = "catalog"
    ORDERS = "orders"
    TELEGRAM_NOTIFICATIONS = "telegram_notifications"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    VIDEO = "video"
    COMPETITORS = "competitors"
    ANALYTICS = "analytics"
    AFFILIATE = "affiliate"


@dataclass(frozen=True, slots=True)
class RateClass:
    name: str
    requests: int | None  # None: unlimited
    window_seconds: int = 15 * 60


STANDARD = RateClass("standard", 100)
PREMIUM = RateClass("premium", 500)
UNLIMITED = RateClass("enterprise", None)


@dataclass(frozen=True, slots=True)
class Plan:
    tier: str
    monthly_price: int
    yearly_price: int
    rate: RateClass
    features: frozenset[Feature]
    daily_sms: int
    daily_whatsapp: int
    daily_videos: int

    def price(self, period: BillingPeriod) -> int:
        return self.monthly_price if period is BillingPeriod.MONTHLY else self.yearly_price

    def includes(self, feature: Feature) -> bool:
        return feature in self.features


_BASE = frozenset({Feature.CATALOG, Feature.ORDERS, Feature.TELEGRAM_NOTIFICATIONS})
_PRO = _BASE | {Feature.SMS, Feature.ANALYTICS, Feature.AFFILIATE, Feature.COMPETITORS}
_PREMIUM = _PRO | {Feature.WHATSAPP, Feature.VIDEO}

PLANS: dict[str, Plan] = {
    plan.tier: plan
    for plan in (
        Plan("free", 0, 0, STANDARD, _BASE, 0, 0, 0),
        Plan("starter_pro", 300_000, 3_000_000, STANDARD, _PRO, 200, 0, 0),
        Plan("premium", 700_000, 7_000_000, PREMIUM, _PREMIUM, 1_000, 1_000, 20),
        Plan("enterprise", 2_000_000, 20_000_000, UNLIMITED, _PREMIUM, 10_000, 10_000, 200),
    )
}
FREE = PLANS["free"]
PAID_TIERS = tuple(tier for tier, plan in PLANS.items() if plan.monthly_price > 0)


def get_plan(tier: str) -> Plan:
    try:
        return PLANS[tier]
    except KeyError:
        raise NotFound("unknown plan", tier=tier) from None


def paid_plan(tier: str, field: str = "pricingTier") -> Plan:
    plan = PLANS.get(tier)
    if plan is None or plan.monthly_price == 0:
        raise ValidationFailed(field, f"pricing tier must be one of: {', '.join(PAID_TIERS)}")
    return plan


def effective_plan(tier: str, expires_at: datetime | None, now: datetime | None = None) -> Plan:
    """The plan in force: a paid plan past its expiry counts as free."""
    plan = PLANS.get(tier, FREE)
    if plan.monthly_price and expires_at is not None and expires_at <= (now or datetime.now(UTC)):
        return FREE
    return plan


def require_feature(tier: str, expires_at: datetime | None, feature: Feature) -> Plan:
    """The seller's plan if it includes `feature`; else PlanRequired naming the plan to buy."""
    plan = effective_plan(tier, expires_at)
    if not plan.includes(feature):
        needed = cheapest_plan_with(feature)
        raise PlanRequired(
            f"{feature.value} needs the {needed.tier} plan or higher",
            feature=feature.value,
            required_plan=needed.tier,
            current_plan=plan.tier,
        )
    return plan


def cheapest_plan_with(feature: Feature) -> Plan:
    """The plan to name when a seller asks for a feature their plan lacks."""
    return min(
        (plan for plan in PLANS.values() if plan.includes(feature)),
        key=lambda plan: plan.monthly_price,
    )

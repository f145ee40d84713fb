"""REST shapes of plans and payments (camelCase on the wire, as the seed writes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, RootModel, StringConstraints

from core.models import PaymentStatus, Provider
from core.plans import PLANS, BillingPeriod
from core.schemas import ApiModel, Out

MAX_AMOUNT = 1_000_000_000_000


def _price_table(schema: dict[str, Any]) -> None:
    """Document the catalog in the schema: each paid tier and period with its exact amount.

    The service checks the same rule and answers 400 naming the expected amount; writing it
    here too lets clients (and schema-driven tests) know which bodies are acceptable.
    """
    variants = []
    for plan in PLANS.values():
        if not plan.monthly_price:
            continue
        for period in BillingPeriod:
            monthly = period is BillingPeriod.MONTHLY
            variants.append(
                {
                    "properties": {
                        "pricingTier": {"const": plan.tier},
                        "billingPeriod": {"const": period.value},
                        "amount": {"const": plan.price(period)},
                    },
                    "required": ["pricingTier", "amount"] + ([] if monthly else ["billingPeriod"]),
                }
            )
    schema["oneOf"] = variants


class CreatePaymentIn(ApiModel):
    """`amount` must equal the catalog price of `pricingTier` for `billingPeriod`."""

    model_config = ConfigDict(json_schema_extra=_price_table)

    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    pricing_tier: Annotated[str, StringConstraints(max_length=32)]
    billing_period: BillingPeriod = BillingPeriod.MONTHLY
    provider: Provider


class HistoryQuery(ApiModel):
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    status: PaymentStatus | None = None


class RateClassOut(Out):
    name: str
    requests: int | None = Field(description="requests per window; null: unlimited")
    window_seconds: int


class PlanLimitsOut(Out):
    daily_sms: int
    daily_whatsapp: int
    daily_videos: int


class PlanOut(Out):
    tier: str
    monthly_price: int = Field(description="UZS")
    yearly_price: int = Field(description="UZS")
    currency: str = "UZS"
    rate_class: RateClassOut
    features: list[str]
    limits: PlanLimitsOut


class PlanList(RootModel[list[PlanOut]]):
    pass


class SubscriptionOut(Out):
    """The plan in force for the seller now."""

    plan: str
    expires_at: datetime | None
    active: bool = Field(description="a paid plan is in force")
    days_left: int | None


class PaymentOut(Out):
    transaction_id: str
    provider: Provider
    pricing_tier: str
    billing_period: BillingPeriod
    amount: int = Field(description="UZS")
    status: PaymentStatus
    refunded: bool
    payment_url: str | None = Field(description="checkout link while the payment is pending")
    created_at: datetime
    expires_at: datetime = Field(description="an unpaid payment expires at this time")
    paid_at: datetime | None
    cancelled_at: datetime | None
    period_start: datetime | None = Field(description="start of the period this payment added")
    period_end: datetime | None = Field(description="end of the period this payment added")


class VerifyOut(PaymentOut):
    subscription: SubscriptionOut


class CheckoutOut(Out):
    payment_url: str
    transaction_id: str
    payment: PaymentOut

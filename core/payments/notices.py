"""What the seller reads when a payment or plan event happens, rendered in their language.

The notifications service (outbox, delivery) subscribes to the events and only renders:

    events.PAYMENT_PAID(payment=, seller=, conn=)       -> paid(payment, seller)
    events.PAYMENT_CANCELLED(payment=, seller=, conn=)  -> cancelled(payment, seller)
    events.PLAN_EXPIRING(seller=, days_left=, conn=)    -> expiring(seller, days_left)
    events.PLAN_EXPIRED(seller=, conn=)                 -> expired(seller)

Each gives the text (HTML, Telegram's parse mode) and one inline button whose callback data
opens the bot's subscription screen (`m:subscription`, `MenuCb(section="subscription")`),
where the seller picks a plan and gets the pay link. Locale keys: `payments.notice_paid`,
`notice_cancelled`, `notice_refunded`, `notice_expiring`, `notice_expired`; placeholders
are listed in `locales/*/payments.toml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.formatting import LOCAL_TIMEZONE, format_money
from core.i18n import t
from core.models import Payment, Seller

SUBSCRIPTION_CALLBACK = "m:subscription"


@dataclass(frozen=True, slots=True)
class Notice:
    text: str
    button_text: str
    button_callback: str = SUBSCRIPTION_CALLBACK


def local_date(moment: datetime | None, lang: str) -> str:
    """The day in Tashkent time (`31.01.2026`), or "no end date"."""
    if moment is None:
        return t("payments.no_end", lang)
    return moment.astimezone(LOCAL_TIMEZONE).strftime("%d.%m.%Y")


def plan_name(tier: str, lang: str) -> str:
    return t(f"payments.tier.{tier}", lang)


def period_name(period: str, lang: str) -> str:
    return t(f"payments.period.{period}", lang)


def _payment_values(payment: Payment, lang: str) -> dict[str, Any]:
    return {
        "plan": plan_name(payment.tier, lang),
        "period": period_name(str(payment.period), lang),
        "amount": format_money(payment.amount, lang),
        "transaction_id": payment.transaction_id,
    }


def paid(payment: Payment, seller: Seller) -> Notice:
    lang = str(seller.language)
    text = t(
        "payments.notice_paid",
        lang,
        expires=local_date(seller.plan_expires_at, lang),
        **_payment_values(payment, lang),
    )
    return Notice(text, t("payments.open_button", lang))


def cancelled(payment: Payment, seller: Seller) -> Notice:
    lang = str(seller.language)
    values = _payment_values(payment, lang)
    if payment.refunded:
        text = t(
            "payments.notice_refunded",
            lang,
            plan_now=plan_name(seller.plan, lang),
            expires=local_date(seller.plan_expires_at, lang),
            **values,
        )
    else:
        text = t("payments.notice_cancelled", lang, **values)
    return Notice(text, t("payments.notice_button", lang))


def expiring(seller: Seller, days_left: int) -> Notice:
    lang = str(seller.language)
    text = t(
        "payments.notice_expiring",
        lang,
        plan=plan_name(seller.plan, lang),
        days_left=days_left,
        expires=local_date(seller.plan_expires_at, lang),
    )
    return Notice(text, t("payments.notice_button", lang))


def expired(seller: Seller) -> Notice:
    lang = str(seller.language)
    return Notice(t("payments.notice_expired", lang), t("payments.notice_button", lang))

"""Checkout links that send the seller to Click or Payme, built from settings."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from core.models import Payment, Provider
from core.payments.units import to_tiyin
from core.settings import Settings, get_settings

PAYME_ACCOUNT_FIELD = "transaction_id"
PAYME_LANGUAGES = ("uz", "ru", "en")


def click_url(payment: Payment, return_url: str, settings: Settings) -> str:
    """`.../services/pay?service_id&merchant_id&amount&transaction_param&return_url`."""
    query = urlencode(
        {
            "service_id": settings.click_service_id,
            "merchant_id": settings.click_merchant_id,
            "amount": payment.amount,
            "transaction_param": payment.transaction_id,
            "return_url": return_url,
        }
    )
    return f"{settings.click_pay_url}?{query}"


def payme_url(
    payment: Payment, return_url: str, settings: Settings, language: str | None = None
) -> str:
    """The checkout host + base64("m=..;ac.transaction_id=..;a=TIYIN;l=..;c=..")."""
    parts = [
        f"m={settings.payme_merchant_id}",
        f"ac.{PAYME_ACCOUNT_FIELD}={payment.transaction_id}",
        f"a={to_tiyin(payment.amount)}",
    ]
    if language in PAYME_LANGUAGES:
        parts.append(f"l={language}")
    if return_url and ";" not in return_url:
        parts.append(f"c={return_url}")
    token = base64.b64encode(";".join(parts).encode()).decode()
    return settings.payme_checkout_url.rstrip("/") + "/" + token


def accepts_callbacks(provider: Provider, settings: Settings | None = None) -> bool:
    """Whether this provider's callbacks can be verified: Payme's key, Click's secret."""
    settings = settings or get_settings()
    if provider == Provider.CLICK:
        return bool(settings.click_secret_key.get_secret_value())
    return bool(settings.payme_key.get_secret_value())


def checkout_url(
    payment: Payment,
    *,
    return_url: str | None = None,
    language: str | None = None,
    settings: Settings | None = None,
) -> str:
    settings = settings or get_settings()
    back = return_url or settings.public_url
    if payment.provider == Provider.CLICK:
        return click_url(payment, back, settings)
    return payme_url(payment, back, settings, language)

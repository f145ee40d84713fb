"""Scheduler jobs: unpaid payments expire, plans remind 3 and 1 days ahead, then end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import events
from core.formatting import format_money
from core.i18n import t
from core.models import AuditEvent, Payment, PaymentStatus, ProviderTransaction, Seller
from core.payments import jobs, notices
from core.payments.service import PAYME_TIMEOUT_MS, PAYMENT_TTL
from core.worker import SCHEDULED, load_domains
from tests.payments.clients import ClickClient, PaymeClient, now_ms
from tests.payments.conftest import Buy, EventLog

STARTER_TIYIN = 300_000 * 100


def test_jobs_are_registered_with_stable_ids() -> None:
    load_domains()
    assert {"payments.expire_unpaid", "plans.remind_expiring", "plans.expire"} <= set(SCHEDULED)


async def test_unpaid_payment_expires_after_its_ttl(click: ClickClient, buy: Buy) -> None:
    fresh = (await buy("payme"))["transactionId"]
    old = (await buy("click"))["transactionId"]
    later = datetime.now(UTC) + PAYMENT_TTL + timedelta(minutes=2)
    await Payment.filter(transaction_id=fresh).update(expires_at=later + timedelta(hours=1))

    expired = await jobs.expire_unpaid(later)

    assert expired == 1
    assert (await Payment.get(transaction_id=old)).status == PaymentStatus.EXPIRED
    assert (await Payment.get(transaction_id=fresh)).status == PaymentStatus.PENDING
    assert await AuditEvent.filter(action="payment.expired", object_id=old).count() == 1
    # A gateway arriving late finds the payment gone.
    prepare = await click.prepare(click.new_trans_id(), old, "300000")
    assert prepare["error"] == -9


async def test_a_live_payme_transaction_keeps_its_payment(payme: PaymeClient, buy: Buy) -> None:
    account = (await buy("payme"))["transactionId"]
    tx_id = payme.new_id()
    await payme.create(tx_id, account, STARTER_TIYIN)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Payment.filter(transaction_id=account).update(expires_at=past)

    assert await jobs.expire_unpaid(datetime.now(UTC)) == 0
    performed = await payme.perform(tx_id)

    assert performed["result"]["state"] == 2
    assert (await Payment.get(transaction_id=account)).status == PaymentStatus.PAID


async def test_timed_out_payme_transactions_are_cancelled_with_reason_4(
    payme: PaymeClient, buy: Buy
) -> None:
    account = (await buy("payme"))["transactionId"]
    tx_id = payme.new_id()
    await payme.create(tx_id, account, STARTER_TIYIN, now_ms() - PAYME_TIMEOUT_MS + 60_000)
    later = datetime.now(UTC) + timedelta(minutes=2)

    cancelled = await jobs.cancel_timed_out_payme(later)
    check = await payme.check(tx_id)

    assert cancelled == 1
    assert (check["result"]["state"], check["result"]["reason"]) == (-1, 4)
    tx = await ProviderTransaction.get(provider_id=tx_id)
    assert check["result"]["cancel_time"] == tx.cancel_time


async def _paid_seller(payme: PaymeClient, buy: Buy) -> Seller:
    account = (await buy("payme"))["transactionId"]
    tx_id = payme.new_id()
    await payme.create(tx_id, account, STARTER_TIYIN)
    await payme.perform(tx_id)
    payment = await Payment.get(transaction_id=account)
    return await Seller.get(id=payment.seller_id)


@pytest.mark.parametrize(
    ("left", "days_left"),
    [(timedelta(days=2, hours=12), 3), (timedelta(hours=20), 1)],
)
async def test_reminder_before_the_plan_ends_is_sent_once(
    payme: PaymeClient, buy: Buy, event_log: EventLog, left: timedelta, days_left: int
) -> None:
    seller = await _paid_seller(payme, buy)
    assert seller.plan_expires_at is not None
    moment = seller.plan_expires_at - left

    first = await jobs.remind_expiring(moment)
    second = await jobs.remind_expiring(moment + timedelta(minutes=30))

    assert (first, second) == (1, 0)
    reminders = event_log.of(events.PLAN_EXPIRING)
    assert [(r["seller"].id, r["days_left"]) for r in reminders] == [(seller.id, days_left)]


async def test_both_reminders_then_none_too_early(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    seller = await _paid_seller(payme, buy)
    assert seller.plan_expires_at is not None
    end = seller.plan_expires_at

    counts = [
        await jobs.remind_expiring(end - timedelta(days=5)),
        await jobs.remind_expiring(end - timedelta(days=3)),
        await jobs.remind_expiring(end - timedelta(days=1)),
        await jobs.remind_expiring(end - timedelta(hours=2)),
    ]

    assert counts == [0, 1, 1, 0]
    assert [r["days_left"] for r in event_log.of(events.PLAN_EXPIRING)] == [3, 1]


async def test_extension_earns_new_reminders(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    seller = await _paid_seller(payme, buy)
    assert seller.plan_expires_at is not None
    await jobs.remind_expiring(seller.plan_expires_at - timedelta(days=1))
    extended = await _paid_seller(payme, buy)
    assert extended.plan_expires_at is not None

    sent = await jobs.remind_expiring(extended.plan_expires_at - timedelta(days=1))

    assert sent == 1
    assert len(event_log.of(events.PLAN_EXPIRING)) == 2


async def test_expired_plan_returns_to_free(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    seller = await _paid_seller(payme, buy)
    assert seller.plan_expires_at is not None
    before_end = seller.plan_expires_at - timedelta(seconds=1)
    after_end = seller.plan_expires_at + timedelta(seconds=1)

    early = await jobs.expire_ended_plans(before_end)
    done = await jobs.expire_ended_plans(after_end)
    again = await jobs.expire_ended_plans(after_end)

    assert (early, done, again) == (0, 1, 0)
    seller = await Seller.get(id=seller.id)
    assert (seller.plan, seller.plan_expires_at) == ("free", None)
    assert [p["seller"].id for p in event_log.of(events.PLAN_EXPIRED)] == [seller.id]
    audit = await AuditEvent.get(action="plan.expired", seller_id=seller.id)
    assert audit.data["old_plan"] == "starter_pro"


@pytest.mark.parametrize("lang", ["uz", "ru", "en"])
async def test_notices_render_in_the_sellers_language(
    payme: PaymeClient, buy: Buy, event_log: EventLog, lang: str
) -> None:
    seller = await _paid_seller(payme, buy)
    seller.language = lang  # type: ignore[assignment]
    payment = event_log.of(events.PAYMENT_PAID)[0]["payment"]

    paid = notices.paid(payment, seller)
    expiring = notices.expiring(seller, 3)
    expired = notices.expired(seller)

    assert "300" in paid.text and "Starter Pro" in paid.text
    assert notices.local_date(seller.plan_expires_at, lang) in paid.text
    assert "3" in expiring.text
    assert expired.button_callback == "m:subscription"
    for notice in (paid, expiring, expired):
        assert "{" not in notice.text and notice.button_text


async def test_cancel_and_refund_notices(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    account = (await buy("payme"))["transactionId"]
    tx_id = payme.new_id()
    await payme.create(tx_id, account, STARTER_TIYIN)
    await payme.perform(tx_id)
    await payme.cancel(tx_id, reason=5)
    other = (await buy("payme"))["transactionId"]
    other_tx = payme.new_id()
    await payme.create(other_tx, other, STARTER_TIYIN)
    await payme.cancel(other_tx, reason=3)

    refunded, cancelled = event_log.of(events.PAYMENT_CANCELLED)
    refund_notice = notices.cancelled(refunded["payment"], refunded["seller"])
    cancel_notice = notices.cancelled(cancelled["payment"], cancelled["seller"])

    lang = str(refunded["seller"].language)
    assert refund_notice.text == t(
        "payments.notice_refunded",
        lang,
        transaction_id=account,
        plan="Starter Pro",
        amount=format_money(300_000, lang),
        period=t("payments.period.monthly", lang),
        plan_now=t("payments.tier.free", lang),
        expires=t("payments.no_end", lang),
    )
    assert other in cancel_notice.text

"""Duplicate callbacks arriving together credit exactly once (row locks on PostgreSQL, the
single writer on SQLite): run with DATABASE_URL=postgres://... to exercise the locks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core import events
from core.models import AuditEvent, Payment, PaymentStatus, ProviderTransaction
from tests.payments.clients import ClickClient, PaymeClient, now_ms
from tests.payments.conftest import Buy, EventLog, seller_of

TWINS = 20
STARTER_TIYIN = 300_000 * 100


async def test_concurrent_identical_create_and_perform_credit_once(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    account = (await buy("payme"))["transactionId"]
    tx_id = payme.new_id()
    moment = now_ms()
    before = datetime.now(UTC)

    creates = await asyncio.gather(
        *(payme.create(tx_id, account, STARTER_TIYIN, moment, rpc_id=1) for _ in range(TWINS))
    )
    performs = await asyncio.gather(*(payme.perform(tx_id, rpc_id=2) for _ in range(TWINS)))

    assert all(answer == creates[0] for answer in creates), creates
    assert creates[0]["result"]["state"] == 1
    assert all(answer == performs[0] for answer in performs), performs
    assert performs[0]["result"]["state"] == 2
    assert await ProviderTransaction.filter(provider_id=tx_id).count() == 1
    seller = await seller_of(account)
    assert seller.plan_expires_at is not None
    assert before + timedelta(days=30) <= seller.plan_expires_at
    assert seller.plan_expires_at < before + timedelta(days=31)
    assert event_log.names() == [events.PAYMENT_PAID]
    assert await AuditEvent.filter(action="payment.paid").count() == 1


async def test_concurrent_creates_with_different_ids_admit_one(
    payme: PaymeClient, buy: Buy
) -> None:
    account = (await buy("payme"))["transactionId"]

    answers = await asyncio.gather(
        *(payme.create(payme.new_id(), account, STARTER_TIYIN) for _ in range(TWINS))
    )

    states = sorted(a["result"]["state"] if "result" in a else a["error"]["code"] for a in answers)
    assert states == [-31052] * (TWINS - 1) + [1]


async def test_concurrent_identical_cancel_after_perform_refunds_once(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    account = (await buy("payme"))["transactionId"]
    tx_id = payme.new_id()
    await payme.create(tx_id, account, STARTER_TIYIN)
    await payme.perform(tx_id)

    answers = await asyncio.gather(*(payme.cancel(tx_id, 5, rpc_id=3) for _ in range(TWINS)))

    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["result"]["state"] == -2
    seller = await seller_of(account)
    assert (seller.plan, seller.plan_expires_at) == ("free", None)
    assert event_log.names() == [events.PAYMENT_PAID, events.PAYMENT_CANCELLED]


async def test_concurrent_identical_click_complete_credits_once(
    click: ClickClient, buy: Buy, event_log: EventLog
) -> None:
    order = (await buy("click"))["transactionId"]
    trans_id = click.new_trans_id()
    prepares = await asyncio.gather(
        *(click.prepare(trans_id, order, "300000.00") for _ in range(TWINS))
    )
    prepare_id = prepares[0]["merchant_prepare_id"]
    before = datetime.now(UTC)

    completes = await asyncio.gather(
        *(click.complete(trans_id, order, "300000.00", prepare_id) for _ in range(TWINS))
    )

    assert all(answer == prepares[0] for answer in prepares)
    assert prepares[0]["error"] == 0
    assert sorted(answer["error"] for answer in completes) == [-4] * (TWINS - 1) + [0]
    assert await ProviderTransaction.filter(provider_id=trans_id).count() == 1
    payment = await Payment.get(transaction_id=order)
    assert payment.status == PaymentStatus.PAID
    seller = await seller_of(order)
    assert seller.plan_expires_at is not None
    assert before + timedelta(days=30) <= seller.plan_expires_at
    assert seller.plan_expires_at < before + timedelta(days=31)
    assert event_log.names() == [events.PAYMENT_PAID]


async def test_two_payments_paid_together_both_extend(
    payme: PaymeClient, click: ClickClient, buy: Buy
) -> None:
    """Different payments of one seller paid at once: both periods are added, none lost."""
    first = (await buy("payme"))["transactionId"]
    second = (await buy("click"))["transactionId"]
    tx_id = payme.new_id()
    await payme.create(tx_id, first, STARTER_TIYIN)
    trans_id = click.new_trans_id()
    prepare_id = (await click.prepare(trans_id, second, "300000"))["merchant_prepare_id"]
    before = datetime.now(UTC)

    await asyncio.gather(
        payme.perform(tx_id), click.complete(trans_id, second, "300000", prepare_id)
    )

    seller = await seller_of(first)
    assert seller.plan_expires_at is not None
    assert before + timedelta(days=60) <= seller.plan_expires_at
    assert seller.plan_expires_at < before + timedelta(days=61)

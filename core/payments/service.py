"""Plan purchases: create, verify and list payments, and the state changes both gateways share.

A payment is `pending` until a gateway pays it (`paid`), cancels it (`cancelled`, with
`refunded` when a paid one is taken back) or it runs out of time unpaid (`expired`).
Every change happens in one database transaction with the payment row locked, writes an
audit event and emits its domain event there, so a repeated or concurrent callback finds
the change already made and makes it no second time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core import db, events
from core.errors import Conflict, NotFound, ProviderNotConfigured, ValidationFailed
from core.models import Payment, PaymentStatus, Provider, ProviderTransaction, Seller, TxState
from core.payments import links, subscription
from core.payments.schemas import (
    CheckoutOut,
    CreatePaymentIn,
    HistoryQuery,
    PaymentOut,
    PlanLimitsOut,
    PlanOut,
    RateClassOut,
    SubscriptionOut,
    VerifyOut,
)
from core.payments.units import now, now_ms, to_ms
from core.plans import PLANS, BillingPeriod, Plan, effective_plan, paid_plan
from core.schemas import Pagination, paginate
from core.services import audit
from core.settings import Settings

log = logging.getLogger(__name__)

PAYMENT_TTL = timedelta(hours=24)
PAYME_TIMEOUT_MS = 43_200_000
# Click has no published limit between Prepare and Complete; a prepare older than this no
# longer keeps an unpaid payment from expiring.
CLICK_PREPARE_TTL_MS = 3_600_000


def answer_budget(settings: Settings) -> float:
    """Seconds a gateway callback may take: its answer must beat the web request deadline."""
    return max(1.0, settings.request_timeout - 2.0)


# --- the catalog ----------------------------------------------------------------------------


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut(
        tier=plan.tier,
        monthly_price=plan.monthly_price,
        yearly_price=plan.yearly_price,
        rate_class=RateClassOut(
            name=plan.rate.name,
            requests=plan.rate.requests,
            window_seconds=plan.rate.window_seconds,
        ),
        features=sorted(feature.value for feature in plan.features),
        limits=PlanLimitsOut(
            daily_sms=plan.daily_sms,
            daily_whatsapp=plan.daily_whatsapp,
            daily_videos=plan.daily_videos,
        ),
    )


def catalog() -> list[PlanOut]:
    """Every plan, cheapest first."""
    return [plan_out(plan) for plan in sorted(PLANS.values(), key=lambda p: p.monthly_price)]


# --- creating and reading payments ----------------------------------------------------------


def expected_amount(tier: str, period: str) -> int:
    """The catalog price; the client's amount must equal it."""
    return paid_plan(tier).price(BillingPeriod(period))


async def create_payment(
    seller_id: int,
    data: CreatePaymentIn,
    *,
    return_url: str | None = None,
    language: str | None = None,
    actor: str | None = None,
    reuse_within: timedelta | None = None,
) -> CheckoutOut:
    """A pending payment for one period of a paid plan, with its checkout link.

    With `reuse_within`, the same purchase started that recently and still payable is shown
    again instead of a second one (a button pressed twice).
    """
    plan = paid_plan(data.pricing_tier)
    expected = plan.price(data.billing_period)
    if data.amount != expected:
        raise ValidationFailed(
            "amount",
            f"amount must be {expected} UZS for {plan.tier} {data.billing_period.value}",
            expected=expected,
        )
    if not links.accepts_callbacks(data.provider):
        raise ProviderNotConfigured(
            f"{data.provider.value} is not set up on this platform yet",
            field="provider",
            provider=data.provider.value,
        )
    payment = None
    if reuse_within is not None:
        moment = now()
        payment = (
            await Payment.filter(
                seller_id=seller_id,
                tier=plan.tier,
                period=data.billing_period,
                provider=data.provider,
                status=PaymentStatus.PENDING,
                created_at__gte=moment - reuse_within,
                expires_at__gt=moment,
            )
            .order_by("-id")
            .first()
        )
    if payment is None:
        payment = await _insert_payment(seller_id, plan, data, actor or f"seller:{seller_id}")
    url = links.checkout_url(payment, return_url=return_url, language=language)
    log.info(
        "payment created tx=%s seller=%s tier=%s period=%s provider=%s amount=%s",
        payment.transaction_id,
        seller_id,
        plan.tier,
        payment.period,
        payment.provider,
        payment.amount,
    )
    return CheckoutOut(
        payment_url=url, transaction_id=payment.transaction_id, payment=to_out(payment, url)
    )


async def _insert_payment(
    seller_id: int, plan: Plan, data: CreatePaymentIn, actor: str
) -> Payment:
    moment = now()
    # `SUB-<seller>-<ms>` as the seed writes it; two purchases in one millisecond take the next.
    for offset in range(10):
        transaction_id = f"SUB-{seller_id}-{to_ms(moment) + offset}"
        try:
            async with db.atomic() as conn:
                payment = await Payment.create(
                    transaction_id=transaction_id,
                    seller_id=seller_id,
                    provider=data.provider,
                    tier=plan.tier,
                    period=data.billing_period,
                    amount=plan.price(data.billing_period),
                    expires_at=moment + PAYMENT_TTL,
                    using_db=conn,
                )
                await audit.record(
                    "payment.created",
                    actor=actor,
                    object_type="payment",
                    object_id=transaction_id,
                    seller_id=seller_id,
                    using_db=conn,
                    tier=plan.tier,
                    period=data.billing_period.value,
                    amount=payment.amount,
                    provider=data.provider.value,
                )
            return payment
        except IntegrityError:
            continue
    raise Conflict("could not allocate a transaction id, try again")


def to_out(payment: Payment, url: str | None = None) -> PaymentOut:
    if url is None and payment.status == PaymentStatus.PENDING:
        url = links.checkout_url(payment)
    return PaymentOut(
        transaction_id=payment.transaction_id,
        provider=payment.provider,
        pricing_tier=payment.tier,
        billing_period=payment.period,
        amount=payment.amount,
        status=payment.status,
        refunded=payment.refunded,
        payment_url=url if payment.status == PaymentStatus.PENDING else None,
        created_at=payment.created_at,
        expires_at=payment.expires_at,
        paid_at=payment.paid_at,
        cancelled_at=payment.cancelled_at,
        period_start=payment.period_start,
        period_end=payment.period_end,
    )


def subscription_of(seller: Seller, moment: datetime | None = None) -> SubscriptionOut:
    """The plan in force: a paid plan past its expiry counts as free."""
    moment = moment or now()
    plan = effective_plan(seller.plan, seller.plan_expires_at, moment)
    expires = seller.plan_expires_at if plan.monthly_price else None
    days_left = None
    if expires is not None:
        days_left = max(0, -(-int((expires - moment).total_seconds()) // 86_400))
    return SubscriptionOut(
        plan=plan.tier, expires_at=expires, active=plan.monthly_price > 0, days_left=days_left
    )


async def get_for_seller(seller_id: int, transaction_id: str) -> Payment:
    """The seller's own payment; another seller's answers exactly like a missing one."""
    payment = await Payment.get_or_none(transaction_id=transaction_id, seller_id=seller_id)
    if payment is None:
        raise NotFound("payment not found")
    return payment


async def verify(
    seller_id: int,
    transaction_id: str,
    *,
    return_url: str | None = None,
    language: str | None = None,
) -> VerifyOut:
    """The payment's current state and the subscription it produced (the bot reads it too);
    a pending one's link as `create_payment` built it for the same return and language."""
    payment = await get_for_seller(seller_id, transaction_id)
    if payment.status == PaymentStatus.PENDING and payment.expires_at <= now():
        await expire_payment(payment.id, actor=f"seller:{seller_id}")
        payment = await get_for_seller(seller_id, transaction_id)
    url = None
    if payment.status == PaymentStatus.PENDING:
        url = links.checkout_url(payment, return_url=return_url, language=language)
    seller = await Seller.get(id=seller_id)
    return VerifyOut(**to_out(payment, url).model_dump(), subscription=subscription_of(seller))


async def history(seller_id: int, query: HistoryQuery) -> tuple[list[PaymentOut], Pagination]:
    """The seller's payments, newest first."""
    qs = Payment.filter(seller_id=seller_id)
    if query.status is not None:
        qs = qs.filter(status=query.status)
    total = await qs.count()
    rows = await qs.order_by("-id").offset((query.page - 1) * query.limit).limit(query.limit)
    return [to_out(p) for p in rows], paginate(query.page, query.limit, total)


async def seller_subscription(seller_id: int) -> SubscriptionOut:
    return subscription_of(await Seller.get(id=seller_id))


# --- state changes shared by the gateways ---------------------------------------------------


async def lock_payment(conn: BaseDBAsyncClient, **filters: Any) -> Payment | None:
    """The payment row, locked for this transaction (PostgreSQL; SQLite has one writer)."""
    qs = Payment.filter(**filters).using_db(conn)
    return await qs.select_for_update(no_key=True, of=(Payment._meta.db_table,)).first()


async def _lock_seller(conn: BaseDBAsyncClient, seller_id: int) -> Seller:
    return await Seller.filter(id=seller_id).using_db(conn).select_for_update(no_key=True).get()


def payable(payment: Payment, moment: datetime) -> bool:
    return payment.status == PaymentStatus.PENDING and payment.expires_at > moment


async def mark_paid(
    conn: BaseDBAsyncClient, payment: Payment, *, actor: str, moment: datetime
) -> Seller:
    """Pay a locked pending payment: activate or extend the plan, audit it, announce it."""
    seller = await _lock_seller(conn, payment.seller_id)
    change = subscription.activate(seller, payment, moment)
    payment.status, payment.paid_at = PaymentStatus.PAID, moment
    await payment.save(
        using_db=conn,
        update_fields=[
            "status",
            "paid_at",
            "period_start",
            "period_end",
            "previous_plan",
            "previous_expires_at",
            "updated_at",
        ],
    )
    await seller.save(using_db=conn, update_fields=["plan", "plan_expires_at", "updated_at"])
    await audit.record(
        "payment.paid",
        actor=actor,
        object_type="payment",
        object_id=payment.transaction_id,
        seller_id=seller.id,
        using_db=conn,
        amount=payment.amount,
        period=str(payment.period),
        **change.as_audit(),
    )
    await events.emit(events.PAYMENT_PAID, payment=payment, seller=seller, conn=conn)
    log.info(
        "payment paid tx=%s seller=%s plan=%s until=%s by=%s",
        payment.transaction_id,
        seller.id,
        seller.plan,
        seller.plan_expires_at.isoformat() if seller.plan_expires_at else None,
        actor,
    )
    return seller


async def mark_cancelled(
    conn: BaseDBAsyncClient, payment: Payment, *, actor: str, moment: datetime, reason: str
) -> Seller:
    """Cancel a locked payment; a paid one is refunded and its period taken back."""
    refund = payment.status == PaymentStatus.PAID
    seller = await _lock_seller(conn, payment.seller_id)
    data: dict[str, Any] = {"reason": reason, "amount": payment.amount}
    if refund:
        change = subscription.revoke(seller, payment, moment)
        await seller.save(using_db=conn, update_fields=["plan", "plan_expires_at", "updated_at"])
        data.update(change.as_audit())
        await _move_later_periods(conn, payment, change)
    payment.status, payment.cancelled_at, payment.refunded = (
        PaymentStatus.CANCELLED,
        moment,
        refund,
    )
    await payment.save(
        using_db=conn, update_fields=["status", "cancelled_at", "refunded", "updated_at"]
    )
    await audit.record(
        "payment.refunded" if refund else "payment.cancelled",
        actor=actor,
        object_type="payment",
        object_id=payment.transaction_id,
        seller_id=seller.id,
        using_db=conn,
        **data,
    )
    await events.emit(events.PAYMENT_CANCELLED, payment=payment, seller=seller, conn=conn)
    log.info(
        "payment %s tx=%s seller=%s reason=%s by=%s",
        "refunded" if refund else "cancelled",
        payment.transaction_id,
        seller.id,
        reason,
        actor,
    )
    return seller


async def _move_later_periods(
    conn: BaseDBAsyncClient, refunded: Payment, change: subscription.PlanChange
) -> None:
    """Periods paid after a refunded one now start earlier: the history says so."""
    if refunded.period_end is None or change.old_expires_at is None:
        return
    if change.new_expires_at is None or change.new_expires_at >= change.old_expires_at:
        return
    shift = change.old_expires_at - change.new_expires_at
    later = (
        await Payment.filter(
            seller_id=refunded.seller_id,
            status=PaymentStatus.PAID,
            period_start__gte=refunded.period_end,
        )
        .exclude(id=refunded.id)
        .using_db(conn)
        # One locked by a callback of its own (a refund of it) keeps its dates: waiting for
        # it here, with the seller locked, could deadlock with that callback.
        .select_for_update(skip_locked=True)
    )
    for payment in later:
        if payment.period_start is None or payment.period_end is None:
            continue
        payment.period_start -= shift
        payment.period_end -= shift
        await payment.save(using_db=conn, update_fields=["period_start", "period_end"])


# --- gateway transactions that keep a payment alive -----------------------------------------


def payme_deadline(tx: ProviderTransaction) -> int:
    """12 hours after the transaction was created (Payme's time, or ours if earlier)."""
    created = min(tx.create_time, tx.provider_time or tx.create_time)
    return created + PAYME_TIMEOUT_MS


def is_live(tx: ProviderTransaction, moment_ms: int) -> bool:
    """Created and not yet timed out: the gateway may still pay it."""
    if tx.state != TxState.CREATED:
        return False
    if tx.provider == Provider.PAYME:
        return moment_ms < payme_deadline(tx)
    return moment_ms < tx.create_time + CLICK_PREPARE_TTL_MS


async def cancel_transaction(
    conn: BaseDBAsyncClient,
    tx: ProviderTransaction,
    *,
    state: int,
    reason: int | None,
    at_ms: int | None = None,
) -> None:
    """Cancel a gateway transaction once: its cancel time is stored and never rewritten."""
    tx.state, tx.cancel_time, tx.reason = state, at_ms or now_ms(), reason
    await tx.save(using_db=conn, update_fields=["state", "cancel_time", "reason"])


async def expire_payment(
    payment_id: int, *, actor: str = "scheduler", moment: datetime | None = None
) -> bool:
    """Expire one unpaid payment past its time unless a gateway may still pay it."""
    moment = moment or now()
    moment_ms = to_ms(moment)
    async with db.atomic() as conn:
        payment = await lock_payment(conn, id=payment_id)
        if payment is None or payment.status != PaymentStatus.PENDING:
            return False
        if payment.expires_at > moment:
            return False
        open_txs = await ProviderTransaction.filter(
            payment_id=payment.id, state=TxState.CREATED
        ).using_db(conn)
        if any(is_live(tx, moment_ms) for tx in open_txs):
            return False
        for tx in open_txs:
            await cancel_transaction(conn, tx, state=TxState.CANCELLED, reason=4, at_ms=moment_ms)
        payment.status = PaymentStatus.EXPIRED
        await payment.save(using_db=conn, update_fields=["status", "updated_at"])
        await audit.record(
            "payment.expired",
            actor=actor,
            object_type="payment",
            object_id=payment.transaction_id,
            seller_id=payment.seller_id,
            using_db=conn,
        )
    log.info("payment expired tx=%s", payment.transaction_id)
    return True

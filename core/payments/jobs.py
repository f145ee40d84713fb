"""Scheduler jobs of subscriptions: unpaid payments expire, plans remind and then end.

Each job is safe to run again at any time: it looks for what is due, changes each row under
its lock and records what it announced (`plan_notices`), so nothing is announced twice.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from core import db, events
from core.models import (
    Payment,
    PaymentStatus,
    PlanNotice,
    Provider,
    ProviderTransaction,
    Seller,
    TxState,
)
from core.payments import service
from core.payments.units import now, to_ms
from core.plans import FREE
from core.services import audit
from core.worker import scheduled

log = logging.getLogger(__name__)

BATCH = 500
REMIND_BEFORE = (timedelta(days=3), timedelta(days=1))


@scheduled("payments.expire_unpaid", "interval", minutes=5)
async def expire_unpaid_payments() -> int:
    """Pending payments past their time, and Payme transactions past 12 hours."""
    moment = now()
    await cancel_timed_out_payme(moment)
    return await expire_unpaid(moment)


async def expire_unpaid(moment: datetime) -> int:
    due = await Payment.filter(status=PaymentStatus.PENDING, expires_at__lte=moment).limit(BATCH)
    expired = 0
    for payment in due:
        expired += await service.expire_payment(payment.id, moment=moment)
    return expired


async def cancel_timed_out_payme(moment: datetime) -> int:
    """Payme transactions still created 12 hours on: cancelled, state -1, reason 4."""
    moment_ms = to_ms(moment)
    horizon = moment_ms - service.PAYME_TIMEOUT_MS
    stale = await ProviderTransaction.filter(
        Q(create_time__lte=horizon) | Q(provider_time__lte=horizon),
        provider=Provider.PAYME,
        state=TxState.CREATED,
    ).limit(BATCH)
    count = 0
    for candidate in stale:
        async with db.atomic() as conn:
            await service.lock_payment(conn, id=candidate.payment_id)
            tx = (
                await ProviderTransaction.filter(id=candidate.id)
                .using_db(conn)
                .select_for_update(no_key=True)
                .first()
            )
            if tx is None or service.is_live(tx, moment_ms) or tx.state != TxState.CREATED:
                continue
            await service.cancel_transaction(
                conn, tx, state=TxState.CANCELLED, reason=4, at_ms=moment_ms
            )
            count += 1
    return count


@scheduled("plans.remind_expiring", "interval", minutes=30)
async def remind_expiring_plans() -> int:
    """Announce `plan.expiring` 3 days and 1 day before a paid plan ends."""
    return await remind_expiring(now())


def _reminder_kind(left: timedelta) -> str | None:
    for before in sorted(REMIND_BEFORE):
        if left <= before:
            return f"expiring_{before.days}"
    return None


async def remind_expiring(moment: datetime) -> int:
    sellers = (
        await Seller.filter(
            plan_expires_at__gt=moment,
            plan_expires_at__lte=moment + max(REMIND_BEFORE),
        )
        .exclude(plan=FREE.tier)
        .limit(BATCH)
    )
    sent = 0
    for candidate in sellers:
        sent += await _remind(candidate.id, moment)
    return sent


async def _remind(seller_id: int, moment: datetime) -> int:
    async with db.atomic() as conn:
        seller = (
            await Seller.filter(id=seller_id).using_db(conn).select_for_update(no_key=True).get()
        )
        expires = seller.plan_expires_at
        if seller.plan == FREE.tier or expires is None or expires <= moment:
            return 0
        kind = _reminder_kind(expires - moment)
        if kind is None or await _announced(conn, seller, kind):
            return 0
        await PlanNotice.create(
            seller_id=seller.id, kind=kind, plan_expires_at=expires, using_db=conn
        )
        days_left = max(1, math.ceil((expires - moment).total_seconds() / 86_400))
        await events.emit(events.PLAN_EXPIRING, seller=seller, days_left=days_left, conn=conn)
    log.info("plan expiring seller=%s plan=%s days_left=%s", seller.id, seller.plan, days_left)
    return 1


async def _announced(conn: BaseDBAsyncClient, seller: Seller, kind: str) -> bool:
    return await (
        PlanNotice.filter(seller_id=seller.id, kind=kind, plan_expires_at=seller.plan_expires_at)
        .using_db(conn)
        .exists()
    )


@scheduled("plans.expire", "interval", minutes=5)
async def expire_plans() -> int:
    """Return plans past their expiry to `free`, announcing `plan.expired`."""
    return await expire_ended_plans(now())


async def expire_ended_plans(moment: datetime) -> int:
    sellers = await Seller.filter(plan_expires_at__lte=moment).exclude(plan=FREE.tier).limit(BATCH)
    count = 0
    for candidate in sellers:
        count += await _expire_plan(candidate.id, moment)
    return count


async def _expire_plan(seller_id: int, moment: datetime) -> int:
    async with db.atomic() as conn:
        seller = (
            await Seller.filter(id=seller_id).using_db(conn).select_for_update(no_key=True).get()
        )
        expires = seller.plan_expires_at
        if seller.plan == FREE.tier or expires is None or expires > moment:
            return 0
        old_plan = seller.plan
        seller.plan, seller.plan_expires_at = FREE.tier, None
        await seller.save(using_db=conn, update_fields=["plan", "plan_expires_at", "updated_at"])
        await audit.record(
            "plan.expired",
            actor="scheduler",
            object_type="seller",
            object_id=seller.id,
            seller_id=seller.id,
            using_db=conn,
            old_plan=old_plan,
            old_expires_at=expires.isoformat(),
        )
        await events.emit(events.PLAN_EXPIRED, seller=seller, conn=conn)
    log.info("plan expired seller=%s plan=%s", seller_id, old_plan)
    return 1

"""Click SHOP-API: the Prepare and Complete callbacks (PROTOCOLS.md, "Click").

Checks run in Click's own order, and the first failure answers: fields (-8), signature (-1),
action (-3), order (-5), amount (-2), already paid (-4), prepare id (-6), cancelled or an
error reported by Click (-9). `merchant_trans_id` is our `SUB-...` transaction id, amounts
are soums ("300000.00"), and the signature is computed on the fields exactly as received.

`merchant_prepare_id` and `merchant_confirm_id` are both our id of the Click transaction
row, created by Prepare (repeated Prepare gets the same id) and completed by Complete. A
Complete with error < 0 means Click failed the payment: we cancel the payment and answer -9.
A storage failure answers -7 so that Click retries or reverses.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core import db
from core.models import Payment, PaymentStatus, Provider, ProviderTransaction, TxState
from core.payments import service
from core.payments.units import now, to_ms
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

Json = dict[str, Any]
PREPARE, COMPLETE = 0, 1
REQUIRED = (
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "amount",
    "action",
    "error",
    "sign_time",
    "sign_string",
)
MAX_FIELD = 255
_ID_NUMBER = re.compile(r"[0-9]{1,19}")
_ERROR_NUMBER = re.compile(r"[+-]?[0-9]{1,10}")


class Code(IntEnum):
    SUCCESS = 0
    SIGN_CHECK_FAILED = -1
    INCORRECT_AMOUNT = -2
    ACTION_NOT_FOUND = -3
    ALREADY_PAID = -4
    ORDER_NOT_FOUND = -5
    TRANSACTION_NOT_FOUND = -6
    FAILED_TO_UPDATE = -7
    BAD_REQUEST = -8
    TRANSACTION_CANCELLED = -9


NOTES = {
    Code.SUCCESS: "Success",
    Code.SIGN_CHECK_FAILED: "SIGN CHECK FAILED!",
    Code.INCORRECT_AMOUNT: "Incorrect parameter amount",
    Code.ACTION_NOT_FOUND: "Action not found",
    Code.ALREADY_PAID: "Already paid",
    Code.ORDER_NOT_FOUND: "User does not exist",
    Code.TRANSACTION_NOT_FOUND: "Transaction does not exist",
    Code.FAILED_TO_UPDATE: "Failed to update user",
    Code.BAD_REQUEST: "Error in request from click",
    Code.TRANSACTION_CANCELLED: "Transaction cancelled",
}


@dataclass(frozen=True, slots=True)
class ClickRequest:
    """The callback's fields, raw strings as received."""

    click_trans_id: str
    service_id: str
    click_paydoc_id: str
    merchant_trans_id: str
    merchant_prepare_id: str
    amount: str
    action: str
    error: str
    sign_time: str
    sign_string: str


@dataclass(frozen=True, slots=True)
class Outcome:
    code: Code
    tx_id: int | None = None


class Rejected(Exception):
    def __init__(self, code: Code, tx_id: int | None = None) -> None:
        super().__init__(code.name)
        self.outcome = Outcome(code, tx_id)


# --- the two callbacks -----------------------------------------------------------------------


async def prepare(form: Mapping[str, str], settings: Settings | None = None) -> Json:
    """Answer Click's Prepare (action=0): check the order and reserve a prepare id."""
    return await _answer(form, PREPARE, settings or get_settings())


async def complete(form: Mapping[str, str], settings: Settings | None = None) -> Json:
    """Answer Click's Complete (action=1): pay the order, or cancel it when Click failed."""
    return await _answer(form, COMPLETE, settings or get_settings())


async def _answer(form: Mapping[str, str], action: int, settings: Settings) -> Json:
    try:
        request = _validate(form, action, settings)
        async with asyncio.timeout(service.answer_budget(settings)):
            outcome = await _apply(request, action)
    except Rejected as exc:
        outcome = exc.outcome
    except Exception:
        # A timeout included: the transaction rolled back, Click retries or reverses.
        log.exception("click %s failed", "complete" if action else "prepare")
        outcome = Outcome(Code.FAILED_TO_UPDATE)
    if outcome.code != Code.SUCCESS:
        log.warning(
            "click %s answered %s trans=%s order=%s",
            "complete" if action else "prepare",
            int(outcome.code),
            form.get("click_trans_id"),
            form.get("merchant_trans_id"),
        )
    return _render(form, action, outcome)


def _render(form: Mapping[str, str], action: int, outcome: Outcome) -> Json:
    click_trans_id: int | str | None = form.get("click_trans_id")
    if isinstance(click_trans_id, str) and click_trans_id.isdigit():
        click_trans_id = int(click_trans_id)
    key = "merchant_confirm_id" if action == COMPLETE else "merchant_prepare_id"
    return {
        "click_trans_id": click_trans_id,
        "merchant_trans_id": form.get("merchant_trans_id"),
        key: outcome.tx_id,
        "error": int(outcome.code),
        "error_note": NOTES[outcome.code],
    }


# --- checks before the database: fields, signature, action -----------------------------------


def _validate(form: Mapping[str, str], action: int, settings: Settings) -> ClickRequest:
    required = (*REQUIRED, "merchant_prepare_id") if action == COMPLETE else REQUIRED
    values = {name: form.get(name) for name in required}
    if any(not isinstance(v, str) or not v or len(v) > MAX_FIELD for v in values.values()):
        raise Rejected(Code.BAD_REQUEST)
    numeric = ("click_trans_id", "service_id", "click_paydoc_id")
    if not all(_id_number(str(values[name])) for name in numeric):
        raise Rejected(Code.BAD_REQUEST)
    if _decimal(str(values["amount"])) is None or _integer(str(values["error"])) is None:
        raise Rejected(Code.BAD_REQUEST)
    if settings.click_service_id and values["service_id"] != settings.click_service_id:
        raise Rejected(Code.BAD_REQUEST)
    request = ClickRequest(
        merchant_prepare_id=str(values.get("merchant_prepare_id") or ""),
        **{name: str(values[name]) for name in REQUIRED},
    )
    if not signature_ok(request, action, settings.click_secret_key.get_secret_value()):
        raise Rejected(Code.SIGN_CHECK_FAILED)
    if _integer(request.action) != action:
        raise Rejected(Code.ACTION_NOT_FOUND)
    return request


def sign(request: ClickRequest, action: int, secret: str) -> str:
    """MD5 hex of the fields in Click's order; Complete adds merchant_prepare_id."""
    parts = [request.click_trans_id, request.service_id, secret, request.merchant_trans_id]
    if action == COMPLETE:
        parts.append(request.merchant_prepare_id)
    parts += [request.amount, request.action, request.sign_time]
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest()


def signature_ok(request: ClickRequest, action: int, secret: str) -> bool:
    if not secret:
        log.warning("CLICK_SECRET_KEY is not set: every Click callback is refused")
        return False
    expected = sign(request, action, secret)
    return hmac.compare_digest(expected.encode(), request.sign_string.lower().encode())


def _decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _id_number(value: str) -> bool:
    """Click's ids: ASCII digits that fit a 64-bit integer (its own type for them)."""
    return _ID_NUMBER.fullmatch(value) is not None and int(value) < 2**63


def _integer(value: str) -> int | None:
    if _ERROR_NUMBER.fullmatch(value) is None:
        return None
    return int(value)


# --- checks and changes under the payment lock ---------------------------------------------


async def _apply(request: ClickRequest, action: int) -> Outcome:
    try:
        return await _apply_locked(request, action)
    except IntegrityError:
        # A concurrent twin inserted this click_trans_id first: answer as its repeat.
        return await _apply_locked(request, action)


async def _apply_locked(request: ClickRequest, action: int) -> Outcome:
    async with db.atomic() as conn:
        payment = await service.lock_payment(
            conn, transaction_id=request.merchant_trans_id, provider=Provider.CLICK
        )
        try:
            if payment is None:
                raise Rejected(Code.ORDER_NOT_FOUND)
            if _decimal(request.amount) != Decimal(payment.amount):
                raise Rejected(Code.INCORRECT_AMOUNT)
            if payment.status == PaymentStatus.PAID:
                raise Rejected(Code.ALREADY_PAID, await _tx_id(conn, request, payment))
            if action == PREPARE:
                return await _prepare(conn, request, payment)
            return await _complete(conn, request, payment)
        except Rejected as exc:
            outcome = exc.outcome
    # Raised outside the transaction, so that a cancellation made above is committed.
    return outcome


async def _tx_id(conn: BaseDBAsyncClient, request: ClickRequest, payment: Payment) -> int | None:
    tx = await _find(conn, request.click_trans_id)
    return tx.id if tx is not None and tx.payment_id == payment.id else None


async def _find(conn: BaseDBAsyncClient, click_trans_id: str) -> ProviderTransaction | None:
    return (
        await ProviderTransaction.filter(provider=Provider.CLICK, provider_id=click_trans_id)
        .using_db(conn)
        .select_for_update(no_key=True)
        .first()
    )


def _cancelled(payment: Payment) -> bool:
    return payment.status in (PaymentStatus.CANCELLED, PaymentStatus.EXPIRED)


async def _prepare(conn: BaseDBAsyncClient, request: ClickRequest, payment: Payment) -> Outcome:
    tx = await _find(conn, request.click_trans_id)
    if tx is not None and tx.payment_id != payment.id:
        raise Rejected(Code.TRANSACTION_NOT_FOUND)
    moment = now()
    late = payment.status == PaymentStatus.PENDING and not service.payable(payment, moment)
    if _cancelled(payment) or late or (tx is not None and tx.state < 0):
        raise Rejected(Code.TRANSACTION_CANCELLED, tx.id if tx else None)
    if int(request.error) < 0:
        raise Rejected(Code.TRANSACTION_CANCELLED, tx.id if tx else None)
    if tx is None:
        tx = await ProviderTransaction.create(
            provider=Provider.CLICK,
            provider_id=request.click_trans_id,
            payment_id=payment.id,
            state=TxState.CREATED,
            amount=payment.amount,
            create_time=to_ms(moment),
            paydoc_id=request.click_paydoc_id,
            using_db=conn,
        )
        log.info("click prepared trans=%s order=%s", tx.provider_id, payment.transaction_id)
    return Outcome(Code.SUCCESS, tx.id)


async def _complete(conn: BaseDBAsyncClient, request: ClickRequest, payment: Payment) -> Outcome:
    tx = await _find(conn, request.click_trans_id)
    if tx is None or tx.payment_id != payment.id or str(tx.id) != request.merchant_prepare_id:
        raise Rejected(Code.TRANSACTION_NOT_FOUND)
    if _cancelled(payment) or tx.state < 0:
        raise Rejected(Code.TRANSACTION_CANCELLED, tx.id)
    moment = now()
    if int(request.error) < 0:
        await service.cancel_transaction(
            conn, tx, state=TxState.CANCELLED, reason=int(request.error), at_ms=to_ms(moment)
        )
        await service.mark_cancelled(
            conn, payment, actor="click", moment=moment, reason=f"click:{request.error}"
        )
        raise Rejected(Code.TRANSACTION_CANCELLED, tx.id)
    tx.state, tx.perform_time = TxState.PERFORMED, to_ms(moment)
    await tx.save(using_db=conn, update_fields=["state", "perform_time"])
    await service.mark_paid(conn, payment, actor="click", moment=moment)
    return Outcome(Code.SUCCESS, tx.id)

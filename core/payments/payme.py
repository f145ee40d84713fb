"""Payme Merchant API: the JSON-RPC 2.0 endpoint Payme calls (PROTOCOLS.md, "Payme").

Every answer is a JSON-RPC object sent with HTTP 200, errors included. The account field is
`transaction_id` (our `SUB-...` id); amounts are tiyin; times are 13-digit milliseconds,
stored once so that repeated Create, Perform and Cancel requests get identical answers.

Order of checks for one request: not POST (-32300), auth and the optional IP allow-list
(-32504), JSON (-32700), request shape (-32600), method (-32601), then the method's own.
Account errors: -31050 no such payment, -31051 the payment can no longer be paid (paid,
cancelled or expired), -31052 the payment already has another open Payme transaction.
Cancelling a performed transaction is a refund; it answers -31007 once the period the
payment bought has fully passed (the service was delivered).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core import db
from core.i18n import t
from core.models import Payment, PaymentStatus, Provider, ProviderTransaction, TxState
from core.payments import merchant, service
from core.payments.links import PAYME_ACCOUNT_FIELD
from core.payments.subscription import refundable
from core.payments.units import now, to_ms, to_tiyin
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

Json = dict[str, Any]
MAX_ID_LENGTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Code(IntEnum):
    NOT_POST = -32300
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    AUTH = -32504
    INTERNAL = -32400
    WRONG_AMOUNT = -31001
    TRANSACTION_NOT_FOUND = -31003
    CANNOT_CANCEL = -31007
    CANNOT_PERFORM = -31008
    ACCOUNT_NOT_FOUND = -31050
    ACCOUNT_UNAVAILABLE = -31051
    ACCOUNT_BUSY = -31052


ACCOUNT_ERRORS = {Code.ACCOUNT_NOT_FOUND, Code.ACCOUNT_UNAVAILABLE, Code.ACCOUNT_BUSY}


class PaymeError(Exception):
    def __init__(self, code: Code, data: str | None = None) -> None:
        super().__init__(code.name)
        self.code = code
        self.data = PAYME_ACCOUNT_FIELD if code in ACCOUNT_ERRORS and data is None else data


class ParseFailed:
    """Marks a body that is not JSON (distinct from a JSON `null`)."""


@dataclass(frozen=True, slots=True)
class PaymeRequest:
    """What the web layer hands over: the raw request, untouched."""

    http_method: str
    body: bytes
    authorization: str | None
    remote: str | None


def message(code: Code) -> dict[str, str]:
    """The error text in Payme's form {"ru", "uz", "en"}, from the locale catalogs."""
    key = f"payments.payme_errors.{code.name.lower()}"
    return {lang: t(key, lang) for lang in ("ru", "uz", "en")}


def error_answer(rpc_id: Any, code: Code, data: str | None = None) -> Json:
    error: Json = {"code": int(code), "message": message(code)}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": rpc_id, "error": error}


async def handle(request: PaymeRequest, settings: Settings | None = None) -> Json:
    """Answer one Payme request; never raises (Payme must always get an answer)."""
    settings = settings or get_settings()
    if request.http_method != "POST":
        return error_answer(None, Code.NOT_POST)
    try:
        payload: Any = json.loads(request.body)
    except (ValueError, RecursionError):
        payload = ParseFailed
    rpc_id = payload.get("id") if isinstance(payload, dict) else None
    try:
        async with asyncio.timeout(service.answer_budget(settings)):
            return await _dispatch(request, payload, rpc_id, settings)
    except Exception:
        # A timeout included: the transaction rolled back, Payme will ask again.
        log.exception("payme request failed id=%s", rpc_id)
        return error_answer(rpc_id, Code.INTERNAL)


async def _dispatch(request: PaymeRequest, payload: Any, rpc_id: Any, settings: Settings) -> Json:
    if not await _authorized(request, settings):
        log.warning("payme request refused: auth remote=%s", request.remote)
        return error_answer(rpc_id, Code.AUTH)
    if payload is ParseFailed:
        return error_answer(None, Code.PARSE_ERROR)
    method, params = _shape(payload)
    if method is None or params is None:
        return error_answer(rpc_id, Code.INVALID_REQUEST)
    handler = METHODS.get(method)
    if handler is None:
        return error_answer(rpc_id, Code.METHOD_NOT_FOUND)
    try:
        result = await _run(handler, params)
    except PaymeError as exc:
        log.info("payme %s answered %s", method, int(exc.code))
        return error_answer(rpc_id, exc.code, exc.data)
    return {"jsonrpc": "2.0", "id": rpc_id, "result": result}


def _shape(payload: Any) -> tuple[str | None, Json | None]:
    if not isinstance(payload, dict):
        return None, None
    method, params = payload.get("method"), payload.get("params")
    if not isinstance(method, str) or not isinstance(params, dict):
        return None, None
    return method, params


async def _run(handler: Callable[[Json], Awaitable[Json]], params: Json) -> Json:
    try:
        return await handler(params)
    except IntegrityError:
        # A concurrent twin inserted the same transaction first: answer as its repeat.
        return await handler(params)


# --- authentication -------------------------------------------------------------------------


async def _authorized(request: PaymeRequest, settings: Settings) -> bool:
    if settings.payme_allowed_ips.strip() and not ip_allowed(
        request.remote, settings.payme_allowed_ips
    ):
        return False
    key = _basic_key(request.authorization)
    return key is not None and await merchant.payme_key_matches(key, settings)


def _basic_key(header: str | None) -> str | None:
    """The key from `Basic base64("Paycom:KEY")`, or None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, key = decoded.partition(":")
    if sep != ":" or login != "Paycom" or not key:
        return None
    return key


def ip_allowed(remote: str | None, allowed: str) -> bool:
    """`allowed`: comma-separated addresses, networks (a/nn) or ranges (a.b.c.1-15)."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    for entry in (part.strip() for part in allowed.split(",")):
        if entry and _in_entry(address, entry):
            return True
    return False


def _in_entry(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        if "/" in entry:
            return address in ipaddress.ip_network(entry, strict=False)
        if "-" in entry:
            first, last = entry.split("-", 1)
            low = ipaddress.ip_address(first)
            if "." not in last and ":" not in last:
                last = first.rsplit(".", 1)[0] + "." + last
            high = ipaddress.ip_address(last)
            return address.version == low.version == high.version and int(low) <= int(
                address
            ) <= int(high)
        return address == ipaddress.ip_address(entry)
    except ValueError:
        log.warning("PAYME_ALLOWED_IPS entry ignored: %s", entry)
        return False


# --- parameters ------------------------------------------------------------------------------


def _transaction_id(params: Json) -> str:
    value = params.get("id")
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise PaymeError(Code.INVALID_REQUEST, "id")
    return value


def _integer(params: Json, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PaymeError(Code.INVALID_REQUEST, name)
    if isinstance(value, float) and not value.is_integer():
        raise PaymeError(Code.INVALID_REQUEST, name)
    if not INT64_MIN <= value <= INT64_MAX:  # no time, reason or bound is that large
        raise PaymeError(Code.INVALID_REQUEST, name)
    return int(value)


def _amount(params: Json) -> int:
    value = params.get("amount")
    if value is None:
        raise PaymeError(Code.INVALID_REQUEST, "amount")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PaymeError(Code.WRONG_AMOUNT, "amount")
    if isinstance(value, float) and not value.is_integer():
        raise PaymeError(Code.WRONG_AMOUNT, "amount")
    if value <= 0:
        raise PaymeError(Code.WRONG_AMOUNT, "amount")
    return int(value)


def _account(params: Json) -> Json:
    account = params.get("account")
    return account if isinstance(account, dict) else {}


async def _account_payment(params: Json) -> Payment:
    value = _account(params).get(PAYME_ACCOUNT_FIELD)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
        raise PaymeError(Code.ACCOUNT_NOT_FOUND)
    payment = await Payment.get_or_none(transaction_id=str(value), provider=Provider.PAYME)
    if payment is None:
        raise PaymeError(Code.ACCOUNT_NOT_FOUND)
    return payment


def _check_amount(payment: Payment, amount: int) -> None:
    if amount != to_tiyin(payment.amount):
        raise PaymeError(Code.WRONG_AMOUNT, "amount")


# --- answers ---------------------------------------------------------------------------------


def _created(tx: ProviderTransaction) -> Json:
    return {"create_time": tx.create_time, "transaction": str(tx.id), "state": tx.state}


def _performed(tx: ProviderTransaction) -> Json:
    return {"transaction": str(tx.id), "perform_time": tx.perform_time, "state": tx.state}


def _cancelled(tx: ProviderTransaction) -> Json:
    return {"transaction": str(tx.id), "cancel_time": tx.cancel_time, "state": tx.state}


def _details(tx: ProviderTransaction) -> Json:
    return {
        "create_time": tx.create_time,
        "perform_time": tx.perform_time,
        "cancel_time": tx.cancel_time,
        "transaction": str(tx.id),
        "state": tx.state,
        "reason": tx.reason,
    }


# --- methods ---------------------------------------------------------------------------------


async def check_perform_transaction(params: Json) -> Json:
    amount = _amount(params)
    payment = await _account_payment(params)
    _check_amount(payment, amount)
    moment = now()
    if not service.payable(payment, moment):
        raise PaymeError(Code.ACCOUNT_UNAVAILABLE)
    open_txs = await ProviderTransaction.filter(payment_id=payment.id, state=TxState.CREATED)
    if any(service.is_live(tx, to_ms(moment)) for tx in open_txs):
        raise PaymeError(Code.ACCOUNT_BUSY)
    return {"allow": True}


async def create_transaction(params: Json) -> Json:
    tx_id = _transaction_id(params)
    provider_time = _integer(params, "time")
    amount = _amount(params)
    payment_id = await _payment_id_for_create(tx_id, params, amount)
    async with db.atomic() as conn:
        payment = await service.lock_payment(conn, id=payment_id)
        assert payment is not None
        tx = await _find(tx_id, conn)
        if tx is not None:
            outcome = await _repeat_create(conn, tx)
        else:
            outcome = await _new_transaction(
                conn, payment, tx_id, provider_time, amount, _account(params)
            )
    return _result(outcome)


async def _payment_id_for_create(tx_id: str, params: Json, amount: int) -> int:
    """A repeat belongs to its transaction's payment; a new one must match its account."""
    existing = await _find(tx_id)
    if existing is not None:
        return existing.payment_id
    payment = await _account_payment(params)
    _check_amount(payment, amount)
    return payment.id


async def _repeat_create(conn: BaseDBAsyncClient, tx: ProviderTransaction) -> Json | PaymeError:
    if tx.state != TxState.CREATED:
        return PaymeError(Code.CANNOT_PERFORM)
    moment_ms = to_ms(now())
    if not service.is_live(tx, moment_ms):
        await service.cancel_transaction(
            conn, tx, state=TxState.CANCELLED, reason=4, at_ms=moment_ms
        )
        return PaymeError(Code.CANNOT_PERFORM)
    return _created(tx)


async def _new_transaction(
    conn: BaseDBAsyncClient,
    payment: Payment,
    tx_id: str,
    provider_time: int,
    amount: int,
    account: Json,
) -> Json | PaymeError:
    moment = now()
    moment_ms = to_ms(moment)
    if not service.payable(payment, moment):
        return PaymeError(Code.ACCOUNT_UNAVAILABLE)
    open_txs = await ProviderTransaction.filter(
        payment_id=payment.id, provider=Provider.PAYME, state=TxState.CREATED
    ).using_db(conn)
    for other in open_txs:
        if service.is_live(other, moment_ms):
            return PaymeError(Code.ACCOUNT_BUSY)
        await service.cancel_transaction(
            conn, other, state=TxState.CANCELLED, reason=4, at_ms=moment_ms
        )
    tx = await ProviderTransaction.create(
        provider=Provider.PAYME,
        provider_id=tx_id,
        payment_id=payment.id,
        state=TxState.CREATED,
        amount=amount,
        provider_time=provider_time,
        create_time=moment_ms,
        account=account,
        using_db=conn,
    )
    if not service.is_live(tx, moment_ms):
        # Payme's own creation time is already more than 12 hours ago.
        await service.cancel_transaction(
            conn, tx, state=TxState.CANCELLED, reason=4, at_ms=moment_ms
        )
        return PaymeError(Code.CANNOT_PERFORM)
    log.info("payme transaction created id=%s payment=%s", tx_id, payment.transaction_id)
    return _created(tx)


async def perform_transaction(params: Json) -> Json:
    return await _locked(_transaction_id(params), _perform)


async def _perform(
    conn: BaseDBAsyncClient, tx: ProviderTransaction, payment: Payment
) -> Json | PaymeError:
    if tx.state == TxState.PERFORMED:
        return _performed(tx)
    if tx.state != TxState.CREATED:
        return PaymeError(Code.CANNOT_PERFORM)
    moment = now()
    moment_ms = to_ms(moment)
    if not service.is_live(tx, moment_ms):
        await service.cancel_transaction(
            conn, tx, state=TxState.CANCELLED, reason=4, at_ms=moment_ms
        )
        return PaymeError(Code.CANNOT_PERFORM)
    if payment.status != PaymentStatus.PENDING:
        return PaymeError(Code.CANNOT_PERFORM)
    tx.state, tx.perform_time = TxState.PERFORMED, moment_ms
    await tx.save(using_db=conn, update_fields=["state", "perform_time"])
    await service.mark_paid(conn, payment, actor="payme", moment=moment)
    return _performed(tx)


async def cancel_transaction(params: Json) -> Json:
    tx_id = _transaction_id(params)
    reason = _integer(params, "reason")

    async def cancel(
        conn: BaseDBAsyncClient, tx: ProviderTransaction, payment: Payment
    ) -> Json | PaymeError:
        return await _cancel(conn, tx, payment, reason)

    return await _locked(tx_id, cancel)


async def _cancel(
    conn: BaseDBAsyncClient, tx: ProviderTransaction, payment: Payment, reason: int
) -> Json | PaymeError:
    if tx.state in (TxState.CANCELLED, TxState.REFUNDED):
        return _cancelled(tx)
    moment = now()
    if tx.state == TxState.PERFORMED:
        if not refundable(payment, moment):
            return PaymeError(Code.CANNOT_CANCEL)
        new_state = TxState.REFUNDED
    else:
        new_state = TxState.CANCELLED
    await service.cancel_transaction(conn, tx, state=new_state, reason=reason, at_ms=to_ms(moment))
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.PAID):
        await service.mark_cancelled(
            conn, payment, actor="payme", moment=moment, reason=f"payme:{reason}"
        )
    return _cancelled(tx)


async def check_transaction(params: Json) -> Json:
    tx_id = _transaction_id(params)
    tx = await _find(tx_id)
    if tx is None:
        raise PaymeError(Code.TRANSACTION_NOT_FOUND)
    if _overdue(tx):
        return await _locked(tx_id, _expire)
    return _details(tx)


def _overdue(tx: ProviderTransaction) -> bool:
    """Created, never performed, and past the 12 hours Payme allows."""
    return tx.state == TxState.CREATED and not service.is_live(tx, to_ms(now()))


async def _expire(
    conn: BaseDBAsyncClient, tx: ProviderTransaction, payment: Payment
) -> Json | PaymeError:
    """Cancel an overdue transaction (reason 4) the moment anyone looks at it."""
    if _overdue(tx):
        await service.cancel_transaction(
            conn, tx, state=TxState.CANCELLED, reason=4, at_ms=to_ms(now())
        )
    return _details(tx)


async def get_statement(params: Json) -> Json:
    start, end = _integer(params, "from"), _integer(params, "to")
    query = ProviderTransaction.filter(
        provider=Provider.PAYME, provider_time__gte=start, provider_time__lte=end
    ).order_by("provider_time", "id")
    txs = await query
    overdue = [tx.provider_id for tx in txs if _overdue(tx)]
    if overdue:
        for tx_id in overdue:
            await _locked(tx_id, _expire)
        txs = await query
    return {
        "transactions": [
            {
                "id": tx.provider_id,
                "time": tx.provider_time,
                "amount": tx.amount,
                "account": tx.account,
                **_details(tx),
            }
            for tx in txs
        ]
    }


async def change_password(params: Json) -> Json:
    password = params.get("password")
    if not isinstance(password, str) or not password.strip() or len(password) > 512:
        raise PaymeError(Code.INVALID_REQUEST, "password")
    await merchant.set_payme_key(password)
    log.info("payme key changed by ChangePassword")
    return {"success": True}


# --- plumbing --------------------------------------------------------------------------------

LockedAction = Callable[
    [BaseDBAsyncClient, ProviderTransaction, Payment], Awaitable["Json | PaymeError"]
]


async def _find(tx_id: str, conn: BaseDBAsyncClient | None = None) -> ProviderTransaction | None:
    qs = ProviderTransaction.filter(provider=Provider.PAYME, provider_id=tx_id)
    if conn is not None:
        qs = qs.using_db(conn).select_for_update(no_key=True)
    return await qs.first()


async def _locked(tx_id: str, action: LockedAction) -> Json:
    """Run `action` on the transaction with its payment row locked, then answer."""
    async with db.atomic() as conn:
        # The payment row first (found through its transaction), then the transaction: the
        # order every writer of these rows follows.
        payment = await service.lock_payment(
            conn, transactions__provider=Provider.PAYME, transactions__provider_id=tx_id
        )
        tx = await _find(tx_id, conn) if payment is not None else None
        if payment is None or tx is None:
            outcome: Json | PaymeError = PaymeError(Code.TRANSACTION_NOT_FOUND)
        else:
            outcome = await action(conn, tx, payment)
    return _result(outcome)


def _result(outcome: Json | PaymeError) -> Json:
    """Errors found inside a transaction are raised only after it commits what it wrote."""
    if isinstance(outcome, PaymeError):
        raise outcome
    return outcome


METHODS: dict[str, Callable[[Json], Awaitable[Json]]] = {
    "CheckPerformTransaction": check_perform_transaction,
    "CreateTransaction": create_transaction,
    "PerformTransaction": perform_transaction,
    "CancelTransaction": cancel_transaction,
    "CheckTransaction": check_transaction,
    "GetStatement": get_statement,
    "ChangePassword": change_password,
}

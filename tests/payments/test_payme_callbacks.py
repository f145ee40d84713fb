"""Payme Merchant API against the running app, method by method, as the sandbox plays it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core import events
from core.models import AuditEvent, MerchantSetting, Payment, PaymentStatus, Seller
from core.payments import payme as payme_module
from core.payments.payme import ip_allowed
from core.payments.service import PAYME_TIMEOUT_MS
from core.settings import Settings, use_settings
from tests.payments.clients import PAYME_KEY, PaymeClient, basic_auth, merchant_settings, now_ms
from tests.payments.conftest import Buy, EventLog, seller_of
from tests.web.test_lowlevel import raw_exchange
from web.app import create_app

STARTER_TIYIN = 300_000 * 100
ACCOUNT_FIELDS = {"ru", "uz", "en"}


def error_code(answer: dict[str, Any]) -> int:
    assert "result" not in answer, answer
    code: int = answer["error"]["code"]
    return code


async def new_payment(buy: Buy, **kw: Any) -> str:
    answer = await buy("payme", **kw)
    transaction_id: str = answer["transactionId"]
    return transaction_id


async def created(payme: PaymeClient, account: str, amount: int = STARTER_TIYIN) -> str:
    tx_id = payme.new_id()
    answer = await payme.create(tx_id, account, amount)
    assert answer["result"]["state"] == 1, answer
    return tx_id


# --- transport and authentication -----------------------------------------------------------


async def test_missing_and_wrong_auth_are_32504(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    params = {"amount": STARTER_TIYIN, "account": {"transaction_id": account}}
    body = json.dumps({"id": 7, "method": "CheckPerformTransaction", "params": params})

    answers = [
        await payme.raw(body),
        await payme.raw(body, authorization=basic_auth("wrong-key")),
        await payme.raw(body, authorization=basic_auth(PAYME_KEY, login="Paycomm")),
        await payme.raw(body, authorization="Basic !!!not-base64"),
        await payme.raw(body, authorization="Bearer " + PAYME_KEY),
    ]

    for answer in answers:
        assert answer["id"] == 7
        assert answer["error"]["code"] == -32504
        assert set(answer["error"]["message"]) == ACCOUNT_FIELDS


async def test_not_post_is_32300_with_http_200(payme: PaymeClient) -> None:
    answer = await payme.raw(b"", method="GET", authorization=basic_auth(PAYME_KEY))
    assert error_code(answer) == -32300


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[1, 2]", -32600),
        (json.dumps({"id": 1, "method": "CheckTransaction"}).encode(), -32600),
        (json.dumps({"id": 1, "method": 5, "params": {}}).encode(), -32600),
        (json.dumps({"id": 1, "method": "Refund", "params": {}}).encode(), -32601),
        (json.dumps({"id": 1, "method": "CheckTransaction", "params": {}}).encode(), -32600),
    ],
)
async def test_malformed_requests(payme: PaymeClient, body: bytes, code: int) -> None:
    answer = await payme.raw(body, authorization=basic_auth(PAYME_KEY))
    assert error_code(answer) == code


async def test_unauthenticated_garbage_is_still_an_auth_error(payme: PaymeClient) -> None:
    answer = await payme.raw(b"{not json", authorization=basic_auth("nope"))
    assert error_code(answer) == -32504


async def test_internal_error_is_32400_with_http_200(
    payme: PaymeClient, buy: Buy, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await new_payment(buy)

    async def broken(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("database went away")

    monkeypatch.setitem(payme_module.METHODS, "CheckPerformTransaction", broken)
    answer = await payme.check_perform(account, STARTER_TIYIN)
    assert error_code(answer) == -32400


# --- CheckPerformTransaction ----------------------------------------------------------------


async def test_check_perform_allows_a_pending_payment(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    answer = await payme.check_perform(account, STARTER_TIYIN, rpc_id=42)
    assert answer == {"jsonrpc": "2.0", "id": 42, "result": {"allow": True}}


async def test_check_perform_wrong_amount(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    for amount in (STARTER_TIYIN - 100, 300_000, STARTER_TIYIN + 1, 0, -5, 1.5, "300"):
        answer = await payme.check_perform(account, amount)  # type: ignore[arg-type]
        assert error_code(answer) == -31001, amount


async def test_unknown_account_is_localized_and_names_the_field(
    payme: PaymeClient, buy: Buy
) -> None:
    click_account = (await buy("click"))["transactionId"]
    for account in ("SUB-999-1700000000000", click_account, ""):
        answer = await payme.check_perform(account, STARTER_TIYIN)
        assert answer["error"]["code"] == -31050
        assert answer["error"]["data"] == "transaction_id"
        assert set(answer["error"]["message"]) == ACCOUNT_FIELDS
    missing = await payme.call("CheckPerformTransaction", {"amount": STARTER_TIYIN})
    assert missing["error"]["code"] == -31050


async def test_check_perform_refuses_a_busy_or_paid_payment(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)

    busy = await payme.check_perform(account, STARTER_TIYIN)
    await payme.perform(tx_id)
    paid = await payme.check_perform(account, STARTER_TIYIN)

    assert (busy["error"]["code"], busy["error"]["data"]) == (-31052, "transaction_id")
    assert (paid["error"]["code"], paid["error"]["data"]) == (-31051, "transaction_id")


# --- CreateTransaction ----------------------------------------------------------------------


async def test_create_then_repeat_answers_identically(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    tx_id = payme.new_id()
    moment = now_ms()

    first = await payme.create(tx_id, account, STARTER_TIYIN, moment, rpc_id=1)
    second = await payme.create(tx_id, account, STARTER_TIYIN, moment, rpc_id=1)

    assert first == second
    result = first["result"]
    assert set(result) == {"create_time", "transaction", "state"}
    assert result["state"] == 1
    assert isinstance(result["transaction"], str)
    assert len(str(result["create_time"])) == 13
    assert abs(result["create_time"] - moment) < 60_000


async def test_create_errors(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    wrong_amount = await payme.create(payme.new_id(), account, STARTER_TIYIN * 2)
    unknown = await payme.create(payme.new_id(), "SUB-1-123", STARTER_TIYIN)
    no_id = await payme.call(
        "CreateTransaction",
        {"time": now_ms(), "amount": STARTER_TIYIN, "account": {"transaction_id": account}},
    )
    no_time = await payme.call(
        "CreateTransaction",
        {"id": payme.new_id(), "amount": STARTER_TIYIN, "account": {"transaction_id": account}},
    )

    assert error_code(wrong_amount) == -31001
    assert error_code(unknown) == -31050
    assert error_code(no_id) == -32600
    assert error_code(no_time) == -32600


async def test_second_transaction_for_the_same_payment_is_refused(
    payme: PaymeClient, buy: Buy
) -> None:
    account = await new_payment(buy)
    await created(payme, account)

    other = await payme.create(payme.new_id(), account, STARTER_TIYIN)

    assert other["error"]["code"] == -31052
    assert other["error"]["data"] == "transaction_id"


async def test_create_after_cancel_of_the_payment_is_refused(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)
    await payme.cancel(tx_id, reason=3)

    again = await payme.create(payme.new_id(), account, STARTER_TIYIN)
    repeat_of_cancelled = await payme.create(tx_id, account, STARTER_TIYIN)

    assert error_code(again) == -31051
    assert error_code(repeat_of_cancelled) == -31008


# --- PerformTransaction ---------------------------------------------------------------------


async def test_perform_activates_the_plan_once(
    payme: PaymeClient, buy: Buy, event_log: EventLog, seller_client: TestClient
) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)
    before = datetime.now(UTC)

    first = await payme.perform(tx_id, rpc_id=5)
    second = await payme.perform(tx_id, rpc_id=5)

    assert first == second
    result = first["result"]
    assert set(result) == {"transaction", "perform_time", "state"}
    assert result["state"] == 2 and len(str(result["perform_time"])) == 13
    seller = await seller_of(account)
    assert seller.plan == "starter_pro"
    assert seller.plan_expires_at is not None
    assert before + timedelta(days=30) <= seller.plan_expires_at
    assert seller.plan_expires_at <= datetime.now(UTC) + timedelta(days=30)
    assert event_log.names() == [events.PAYMENT_PAID]
    assert event_log.of(events.PAYMENT_PAID)[0]["payment"].transaction_id == account
    assert await AuditEvent.filter(action="payment.paid", object_id=account).count() == 1
    verify = await seller_client.post(f"/api/payment/verify/{account}")
    data = (await verify.json())["data"]
    assert data["status"] == "paid"
    assert data["subscription"]["plan"] == "starter_pro"


async def test_perform_unknown_transaction_is_31003(payme: PaymeClient) -> None:
    assert error_code(await payme.perform("0" * 24)) == -31003
    assert error_code(await payme.cancel("0" * 24)) == -31003
    assert error_code(await payme.check("0" * 24)) == -31003


# --- CancelTransaction ----------------------------------------------------------------------


async def test_cancel_before_perform(payme: PaymeClient, buy: Buy, event_log: EventLog) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)

    first = await payme.cancel(tx_id, reason=3, rpc_id=9)
    second = await payme.cancel(tx_id, reason=3, rpc_id=9)
    perform = await payme.perform(tx_id)
    check = await payme.check(tx_id)

    assert first == second
    assert first["result"]["state"] == -1
    assert set(first["result"]) == {"transaction", "cancel_time", "state"}
    assert error_code(perform) == -31008
    assert check["result"]["state"] == -1
    assert check["result"]["reason"] == 3
    assert check["result"]["perform_time"] == 0
    payment = await Payment.get(transaction_id=account)
    assert payment.status == PaymentStatus.CANCELLED and not payment.refunded
    assert (await seller_of(account)).plan == "free"
    assert event_log.names() == [events.PAYMENT_CANCELLED]


async def test_refund_by_cancel_after_perform_takes_the_period_back(
    payme: PaymeClient, buy: Buy, event_log: EventLog
) -> None:
    first_account = await new_payment(buy)
    first_tx = await created(payme, first_account)
    await payme.perform(first_tx)
    after_first = (await seller_of(first_account)).plan_expires_at
    second_account = await new_payment(buy)
    second_tx = await created(payme, second_account)
    await payme.perform(second_tx)

    refund = await payme.cancel(second_tx, reason=5, rpc_id=3)
    again = await payme.cancel(second_tx, reason=5, rpc_id=3)
    perform_again = await payme.perform(second_tx)
    check = await payme.check(second_tx)

    assert refund == again
    assert refund["result"]["state"] == -2
    assert error_code(perform_again) == -31008
    assert (check["result"]["state"], check["result"]["reason"]) == (-2, 5)
    assert check["result"]["perform_time"] > 0 and check["result"]["cancel_time"] > 0
    seller = await seller_of(second_account)
    assert (seller.plan, seller.plan_expires_at) == ("starter_pro", after_first)
    payment = await Payment.get(transaction_id=second_account)
    assert payment.status == PaymentStatus.CANCELLED and payment.refunded
    assert event_log.names() == [events.PAYMENT_PAID] * 2 + [events.PAYMENT_CANCELLED]
    assert await AuditEvent.filter(action="payment.refunded").count() == 1


async def test_refund_of_the_only_payment_returns_to_free(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)
    await payme.perform(tx_id)

    await payme.cancel(tx_id, reason=5)

    seller = await seller_of(account)
    assert (seller.plan, seller.plan_expires_at) == ("free", None)


async def test_cancel_after_the_period_was_delivered_is_31007(
    payme: PaymeClient, buy: Buy
) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)
    await payme.perform(tx_id)
    past = datetime.now(UTC) - timedelta(minutes=1)
    await Payment.filter(transaction_id=account).update(period_end=past)

    answer = await payme.cancel(tx_id, reason=5)
    check = await payme.check(tx_id)

    assert error_code(answer) == -31007
    assert check["result"]["state"] == 2


# --- the 12-hour timeout --------------------------------------------------------------------


async def test_create_older_than_12_hours_is_cancelled_with_reason_4(
    payme: PaymeClient, buy: Buy
) -> None:
    account = await new_payment(buy)
    tx_id = payme.new_id()
    stale = now_ms() - PAYME_TIMEOUT_MS - 1_000

    create = await payme.create(tx_id, account, STARTER_TIYIN, stale)
    perform = await payme.perform(tx_id)
    check = await payme.check(tx_id)

    assert error_code(create) == -31008
    assert error_code(perform) == -31008
    assert (check["result"]["state"], check["result"]["reason"]) == (-1, 4)
    # The payment itself may still be paid by a new transaction.
    assert (await payme.check_perform(account, STARTER_TIYIN))["result"] == {"allow": True}


async def test_perform_12_hours_after_create_is_31008(
    payme: PaymeClient, buy: Buy, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)
    created_check = await payme.check(tx_id)
    later = datetime.now(UTC) + timedelta(milliseconds=PAYME_TIMEOUT_MS + 1_000)
    monkeypatch.setattr(payme_module, "now", lambda: later)

    perform = await payme.perform(tx_id)
    repeat = await payme.create(tx_id, account, STARTER_TIYIN)
    check = await payme.check(tx_id)

    assert error_code(perform) == -31008
    assert error_code(repeat) == -31008
    assert check["result"]["state"] == -1
    assert check["result"]["reason"] == 4
    assert check["result"]["create_time"] == created_check["result"]["create_time"]
    assert (await seller_of(account)).plan == "free"


# --- CheckTransaction and GetStatement ------------------------------------------------------


async def test_check_transaction_fields(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    tx_id = await created(payme, account)

    answer = await payme.check(tx_id)

    result = answer["result"]
    assert set(result) == {
        "create_time",
        "perform_time",
        "cancel_time",
        "transaction",
        "state",
        "reason",
    }
    assert (result["state"], result["perform_time"], result["cancel_time"]) == (1, 0, 0)
    assert result["reason"] is None


async def test_get_statement_lists_transactions_in_range(payme: PaymeClient, buy: Buy) -> None:
    start = now_ms()
    performed_account = await new_payment(buy)
    performed = await created(payme, performed_account)
    await payme.perform(performed)
    pending_account = await new_payment(buy, tier="premium", period="yearly")
    pending = await created(payme, pending_account, 7_000_000 * 100)
    end = now_ms() + 1

    answer = await payme.statement(start, end)
    empty = await payme.statement(start - 10_000, start - 1)

    listed = answer["result"]["transactions"]
    assert [row["id"] for row in listed] == [performed, pending]
    assert listed[0]["account"] == {"transaction_id": performed_account}
    assert listed[1]["amount"] == 7_000_000 * 100
    assert listed[0]["state"] == 2 and listed[1]["state"] == 1
    assert set(listed[0]) == {
        "id",
        "time",
        "amount",
        "account",
        "create_time",
        "perform_time",
        "cancel_time",
        "transaction",
        "state",
        "reason",
    }
    assert empty["result"] == {"transactions": []}


# --- ChangePassword and the IP allow-list ---------------------------------------------------


async def test_change_password_replaces_the_key_for_every_process(
    payme: PaymeClient, buy: Buy, make_client: Any
) -> None:
    account = await new_payment(buy)

    changed = await payme.change_password("brand-new-key-42")
    old_key = await payme.check_perform(account, STARTER_TIYIN)
    new_key = await payme.check_perform(account, STARTER_TIYIN, key="brand-new-key-42")
    # Another app instance (another process, or after a restart) reads the same key.
    other = PaymeClient(await make_client(), "brand-new-key-42")
    from_other = await other.check_perform(account, STARTER_TIYIN)

    assert changed["result"] == {"success": True}
    assert error_code(old_key) == -32504
    assert new_key["result"] == {"allow": True}
    assert from_other["result"] == {"allow": True}
    stored = await MerchantSetting.get(key="payme_key")
    assert "brand-new-key-42" not in stored.value


async def test_change_password_needs_a_password(payme: PaymeClient) -> None:
    assert error_code(await payme.call("ChangePassword", {})) == -32600
    assert error_code(await payme.call("ChangePassword", {"password": ""})) == -32600


async def test_allow_list_refuses_other_addresses(
    settings: Settings, aiohttp_client: Any, buy: Buy
) -> None:
    account = await new_payment(buy)
    answers = {}
    for allowed in ("185.234.113.1-15", "185.234.113.1-15, 127.0.0.1"):
        value = merchant_settings(settings, payme_allowed_ips=allowed)
        use_settings(value)
        client = PaymeClient(await aiohttp_client(create_app(value)), PAYME_KEY)
        answers[allowed] = await client.check_perform(account, STARTER_TIYIN)

    assert error_code(answers["185.234.113.1-15"]) == -32504
    assert answers["185.234.113.1-15, 127.0.0.1"]["result"] == {"allow": True}


@pytest.mark.parametrize(
    ("remote", "spec", "expected"),
    [
        ("185.234.113.1", "185.234.113.1-15", True),
        ("185.234.113.15", "185.234.113.1-15", True),
        ("185.234.113.16", "185.234.113.1-15", False),
        ("185.234.113.7", "185.234.113.0/28", True),
        ("10.0.0.1", "185.234.113.1-15,10.0.0.1", True),
        ("::1", "185.234.113.1-15", False),
        (None, "127.0.0.1", False),
        ("127.0.0.1", "not-an-ip", False),
    ],
)
def test_ip_allowed(remote: str | None, spec: str, expected: bool) -> None:
    assert ip_allowed(remote, spec) is expected


async def test_seller_plan_untouched_by_failed_callbacks(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    await payme.create(payme.new_id(), account, STARTER_TIYIN + 100)
    await payme.perform("f" * 24)
    seller = await Seller.get(id=(await Payment.get(transaction_id=account)).seller_id)
    assert (seller.plan, seller.plan_expires_at) == ("free", None)


async def test_check_and_statement_show_an_overdue_transaction_cancelled(
    payme: PaymeClient, buy: Buy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing but a look comes after the 12 hours: the answer already says reason 4.
    account = await new_payment(buy)
    tx_id = await created(payme, account)
    later = datetime.now(UTC) + timedelta(milliseconds=PAYME_TIMEOUT_MS + 1_000)
    monkeypatch.setattr(payme_module, "now", lambda: later)

    check = await payme.check(tx_id)
    statement = await payme.statement(0, 10**15)

    assert (check["result"]["state"], check["result"]["reason"]) == (-1, 4)
    assert check["result"]["cancel_time"] > 0 and check["result"]["perform_time"] == 0
    [row] = statement["result"]["transactions"]
    assert (row["id"], row["state"], row["reason"]) == (tx_id, -1, 4)
    assert (await payme.check(tx_id))["result"] == check["result"]  # the same answer after
    assert (await seller_of(account)).plan == "free"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("GetStatement", {"from": 1, "to": 10**26}),
        ("GetStatement", {"from": -(10**30), "to": 1}),
        ("CancelTransaction", {"id": "a" * 24, "reason": 10**40}),
    ],
)
async def test_integers_beyond_64_bits_are_32600(
    payme: PaymeClient, method: str, params: dict[str, Any]
) -> None:
    assert error_code(await payme.call(method, params)) == -32600


async def test_create_with_a_time_beyond_64_bits_is_32600(payme: PaymeClient, buy: Buy) -> None:
    account = await new_payment(buy)
    answer = await payme.call(
        "CreateTransaction",
        {
            "id": payme.new_id(),
            "time": 10**25,
            "amount": STARTER_TIYIN,
            "account": {"transaction_id": account},
        },
    )
    assert error_code(answer) == -32600


async def test_an_oversized_body_is_answered_in_json_rpc(payme: PaymeClient) -> None:
    big = b'{"jsonrpc": "2.0", "id": 1, "method": "CheckTransaction", "params": {"x": "'
    big += b"a" * 1_100_000 + b'"}}'
    with_auth = await payme.raw(big, authorization=basic_auth(PAYME_KEY))
    without = await payme.raw(big)
    assert error_code(with_auth) == -32700
    assert error_code(without) == -32504


async def test_refund_of_an_earlier_period_moves_the_later_ones_back(
    payme: PaymeClient, buy: Buy
) -> None:
    accounts = [await new_payment(buy) for _ in range(3)]
    for account in accounts:
        await payme.perform(await created(payme, account))
    before = {p.transaction_id: p for p in await Payment.filter(transaction_id__in=accounts)}
    statement = await payme.statement(0, 10**15)
    first_tx = next(
        row["id"]
        for row in statement["result"]["transactions"]
        if row["account"]["transaction_id"] == accounts[0]
    )

    await payme.cancel(first_tx, reason=5)

    after = {p.transaction_id: p for p in await Payment.filter(transaction_id__in=accounts)}
    month = timedelta(days=30)
    for account in accounts[1:]:
        assert after[account].period_start == before[account].period_start - month
        assert after[account].period_end == before[account].period_end - month
    seller = await seller_of(accounts[0])
    # The history and the plan agree: the last period paid ends when the plan does.
    assert seller.plan_expires_at == after[accounts[2]].period_end
    assert after[accounts[1]].period_start == before[accounts[0]].period_start


async def test_payme_gets_a_json_rpc_parse_error_for_a_body_that_does_not_decode(
    seller_client: TestClient,
) -> None:
    auth = base64.b64encode(f"Paycom:{PAYME_KEY}".encode())
    status, _headers, body = await raw_exchange(
        seller_client,
        b"POST /api/payment/callback/payme HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nAuthorization: Basic " + auth + b"\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    assert status == 200
    assert json.loads(body)["error"]["code"] == -32700

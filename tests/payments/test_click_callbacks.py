"""Click SHOP-API against the running app: every error code, in Click's order of checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core import events
from core.models import AuditEvent, Payment, PaymentStatus
from tests.payments.clients import ClickClient
from tests.payments.conftest import Buy, EventLog, seller_of

AMOUNT = "300000.00"


async def new_order(buy: Buy, **kw: Any) -> str:
    answer = await buy("click", **kw)
    transaction_id: str = answer["transactionId"]
    return transaction_id


async def prepared(click: ClickClient, order: str) -> tuple[str, int]:
    trans_id = click.new_trans_id()
    answer = await click.prepare(trans_id, order, AMOUNT)
    assert answer["error"] == 0, answer
    prepare_id: int = answer["merchant_prepare_id"]
    return trans_id, prepare_id


# --- Prepare --------------------------------------------------------------------------------


async def test_prepare_answers_a_prepare_id_and_repeats_it(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    trans_id = click.new_trans_id()

    first = await click.prepare(trans_id, order, AMOUNT)
    second = await click.prepare(trans_id, order, AMOUNT)

    assert first == {
        "click_trans_id": int(trans_id),
        "merchant_trans_id": order,
        "merchant_prepare_id": first["merchant_prepare_id"],
        "error": 0,
        "error_note": "Success",
    }
    assert isinstance(first["merchant_prepare_id"], int)
    assert second == first


async def test_amount_is_compared_as_a_number(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    for amount in ("300000", "300000.0", "300000.00"):
        answer = await click.prepare(click.new_trans_id(), order, amount)
        assert answer["error"] == 0, amount
    for amount in ("300000.5", "299999.99", "3000000", "0"):
        answer = await click.prepare(click.new_trans_id(), order, amount)
        assert answer["error"] == -2, amount
        assert answer["merchant_prepare_id"] is None


# --- Complete -------------------------------------------------------------------------------


async def test_complete_pays_once_and_a_repeat_is_already_paid(
    click: ClickClient, buy: Buy, event_log: EventLog, seller_client: TestClient
) -> None:
    order = await new_order(buy)
    trans_id, prepare_id = await prepared(click, order)
    before = datetime.now(UTC)

    first = await click.complete(trans_id, order, AMOUNT, prepare_id)
    repeat = await click.complete(trans_id, order, AMOUNT, prepare_id)
    prepare_again = await click.prepare(click.new_trans_id(), order, AMOUNT)

    assert first == {
        "click_trans_id": int(trans_id),
        "merchant_trans_id": order,
        "merchant_confirm_id": prepare_id,
        "error": 0,
        "error_note": "Success",
    }
    assert (repeat["error"], repeat["merchant_confirm_id"]) == (-4, prepare_id)
    assert prepare_again["error"] == -4
    seller = await seller_of(order)
    assert seller.plan == "starter_pro"
    assert seller.plan_expires_at is not None
    assert seller.plan_expires_at - before >= timedelta(days=30)
    assert event_log.names() == [events.PAYMENT_PAID]
    assert await AuditEvent.filter(action="payment.paid", object_id=order).count() == 1
    verify = await seller_client.post(f"/api/payment/verify/{order}")
    assert (await verify.json())["data"]["status"] == "paid"


async def test_complete_without_prepare_is_6(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    trans_id, prepare_id = await prepared(click, order)

    unknown_trans = await click.complete(click.new_trans_id(), order, AMOUNT, prepare_id)
    wrong_prepare_id = await click.complete(trans_id, order, AMOUNT, prepare_id + 1000)

    assert unknown_trans["error"] == -6
    assert wrong_prepare_id["error"] == -6
    assert (await Payment.get(transaction_id=order)).status == PaymentStatus.PENDING


async def test_click_error_cancels_and_complete_after_cancel_is_9(
    click: ClickClient, buy: Buy, event_log: EventLog
) -> None:
    order = await new_order(buy)
    trans_id, prepare_id = await prepared(click, order)

    failed = await click.complete(trans_id, order, AMOUNT, prepare_id, error=-5017)
    after = await click.complete(trans_id, order, AMOUNT, prepare_id)
    prepare_after = await click.prepare(click.new_trans_id(), order, AMOUNT)

    assert (failed["error"], failed["error_note"]) == (-9, "Transaction cancelled")
    assert after["error"] == -9
    assert prepare_after["error"] == -9
    payment = await Payment.get(transaction_id=order)
    assert payment.status == PaymentStatus.CANCELLED
    assert (await seller_of(order)).plan == "free"
    assert event_log.names() == [events.PAYMENT_CANCELLED]


async def test_prepare_on_an_expired_payment_is_9(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    past = datetime.now(UTC) - timedelta(minutes=1)
    await Payment.filter(transaction_id=order).update(expires_at=past)

    answer = await click.prepare(click.new_trans_id(), order, AMOUNT)

    assert answer["error"] == -9


# --- each error code and Click's order of checks --------------------------------------------


async def test_missing_or_malformed_fields_are_8(
    click: ClickClient, buy: Buy, seller_client: TestClient
) -> None:
    order = await new_order(buy)
    good = click.fields(0, click.new_trans_id(), order, AMOUNT)
    cases = [
        {k: v for k, v in good.items() if k != "sign_time"},
        {k: v for k, v in good.items() if k != "amount"},
        {**good, "click_trans_id": "12a"},
        {**good, "amount": "lots"},
        {**good, "error": "x"},
    ]
    answers = [await click.send(click.prepare_url, fields) for fields in cases]
    wrong_service = click.fields(0, click.new_trans_id(), order, AMOUNT, service_id="999")
    answers.append(await click.send(click.prepare_url, wrong_service))
    async with seller_client.post(click.prepare_url, json=good) as response:
        answers.append(await response.json())
    complete_without_prepare_id = click.fields(1, click.new_trans_id(), order, AMOUNT)

    answers.append(await click.send(click.complete_url, complete_without_prepare_id))

    assert [a["error"] for a in answers] == [-8] * len(answers)
    assert all(a["error_note"] == "Error in request from click" for a in answers)


async def test_tampered_signature_is_1(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    good = click.fields(0, click.new_trans_id(), order, AMOUNT)
    tampered = [
        {**good, "sign_string": "0" * 32},
        {**good, "amount": "1.00"},
        {**good, "merchant_trans_id": order + "0"},
        {**good, "sign_time": "2020-01-01 00:00:00"},
    ]
    answers = [await click.send(click.prepare_url, fields) for fields in tampered]
    other_secret = ClickClient(click.http, "another-secret", click.service_id)
    answers.append(await other_secret.prepare(click.new_trans_id(), order, AMOUNT))

    assert [a["error"] for a in answers] == [-1] * len(answers)
    assert answers[0]["error_note"] == "SIGN CHECK FAILED!"


async def test_uppercase_signature_is_accepted(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    fields = click.fields(0, click.new_trans_id(), order, AMOUNT)
    fields["sign_string"] = fields["sign_string"].upper()
    assert (await click.send(click.prepare_url, fields))["error"] == 0


async def test_wrong_action_is_3(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    trans_id, prepare_id = await prepared(click, order)
    on_prepare = click.fields(1, click.new_trans_id(), order, AMOUNT)
    on_prepare.pop("sign_string")
    on_prepare["sign_string"] = click.sign(on_prepare)
    on_complete = click.fields(5, trans_id, order, AMOUNT, merchant_prepare_id=prepare_id)

    answers = [
        await click.send(click.prepare_url, on_prepare),
        await click.send(click.complete_url, on_complete),
    ]

    assert [a["error"] for a in answers] == [-3, -3]


async def test_unknown_order_is_5(click: ClickClient, buy: Buy) -> None:
    payme_order = (await buy("payme"))["transactionId"]
    for order in ("SUB-1-1", payme_order):
        answer = await click.prepare(click.new_trans_id(), order, AMOUNT)
        assert (answer["error"], answer["error_note"]) == (-5, "User does not exist")


async def test_failed_to_update_is_7(
    click: ClickClient, buy: Buy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.payments import click as click_module

    order = await new_order(buy)

    async def broken(*args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(click_module, "_apply_locked", broken)
    answer = await click.prepare(click.new_trans_id(), order, AMOUNT)
    assert answer["error"] == -7


async def test_order_of_checks(click: ClickClient, buy: Buy) -> None:
    """When several checks fail, the first in Click's order answers."""
    order = await new_order(buy)
    paid_order = await new_order(buy)
    paid_trans, paid_prepare = await prepared(click, paid_order)
    await click.complete(paid_trans, paid_order, AMOUNT, paid_prepare)
    cancelled_order = await new_order(buy)
    c_trans, c_prepare = await prepared(click, cancelled_order)
    await click.complete(c_trans, cancelled_order, AMOUNT, c_prepare, error=-1)

    missing_and_bad_sign = {
        **click.fields(0, click.new_trans_id(), "SUB-1-1", "5"),
        "sign_string": "bad",
    }
    missing_and_bad_sign.pop("action")
    bad_sign_unknown_order = {
        **click.fields(0, click.new_trans_id(), "SUB-1-1", "5"),
        "sign_string": "bad",
    }
    bad_action_unknown_order = click.fields(7, click.new_trans_id(), "SUB-1-1", "5")
    unknown_order_bad_amount = click.fields(0, click.new_trans_id(), "SUB-1-1", "5")
    bad_amount_paid = click.fields(0, click.new_trans_id(), paid_order, "5")
    paid_bad_prepare = click.fields(
        1, click.new_trans_id(), paid_order, AMOUNT, merchant_prepare_id=999_999
    )
    bad_prepare_cancelled = click.fields(
        1, click.new_trans_id(), cancelled_order, AMOUNT, merchant_prepare_id=999_999
    )

    codes = [
        (await click.send(click.prepare_url, missing_and_bad_sign))["error"],
        (await click.send(click.prepare_url, bad_sign_unknown_order))["error"],
        (await click.send(click.prepare_url, bad_action_unknown_order))["error"],
        (await click.send(click.prepare_url, unknown_order_bad_amount))["error"],
        (await click.send(click.prepare_url, bad_amount_paid))["error"],
        (await click.send(click.complete_url, paid_bad_prepare))["error"],
        (await click.send(click.complete_url, bad_prepare_cancelled))["error"],
    ]

    assert codes == [-8, -1, -3, -5, -2, -4, -6]
    assert (await Payment.get(transaction_id=order)).status == PaymentStatus.PENDING


async def test_unconfigured_secret_refuses_everything(
    click: ClickClient, buy: Buy, settings: Any
) -> None:
    from pydantic import SecretStr

    from core.payments import click as click_module

    order = await new_order(buy)
    fields = click.fields(0, click.new_trans_id(), order, AMOUNT)
    unsigned = settings.model_copy(update={"click_secret_key": SecretStr("")})

    answer = await click_module.prepare(fields, unsigned)

    assert answer["error"] == -1


async def test_ids_beyond_64_bits_or_not_ascii_digits_are_8(click: ClickClient, buy: Buy) -> None:
    order = await new_order(buy)
    answers = []
    for trans_id in ["9" * 100, str(2**63), "١٢٣"]:
        fields = click.fields(0, trans_id, order, AMOUNT)
        answers.append(await click.send(click.prepare_url, fields))
    assert [a["error"] for a in answers] == [-8, -8, -8]
    assert await Payment.filter(transaction_id=order, status=PaymentStatus.PENDING).exists()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xx", b"--xx\r\nfoo"),
        ("application/x-www-form-urlencoded", b"a=" + b"b" * 1_100_000),
    ],
)
async def test_broken_or_oversized_bodies_are_8_in_clicks_json(
    seller_client: TestClient, click: ClickClient, content_type: str, body: bytes
) -> None:
    for url in (click.prepare_url, click.complete_url):
        async with seller_client.post(
            url, data=body, headers={"Content-Type": content_type}
        ) as response:
            assert response.status == 200
            assert (await response.json())["error"] == -8

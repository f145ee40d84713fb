"""The outbox rules: dedupe, claims under a lease, recovery after a worker died."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.models import Channel, DeliveryState, MessageType, Notification
from core.services import outbox
from core.services.outbox import Outgoing
from tests.notifications.conftest import make_seller

S = DeliveryState


def item(recipient: str = "1", key: str | None = None, **extra: object) -> Outgoing:
    return Outgoing(
        channel=Channel.TELEGRAM,
        recipient=recipient,
        type=MessageType.CUSTOM,
        text="hi",
        dedupe_key=key,
        **extra,  # type: ignore[arg-type]
    )


async def test_a_dedupe_key_is_enqueued_once(database: None) -> None:
    seller = await make_seller()

    first = await outbox.enqueue(seller.id, [item(key="order:1:x"), item(key="order:2:x")])
    again = await outbox.enqueue(seller.id, [item(key="order:1:x")])

    assert [row.dedupe_key for row in first] == ["order:1:x", "order:2:x"]
    assert again[0].id == first[0].id
    assert await Notification.all().count() == 2


async def test_refused_items_are_failed_at_once_and_do_not_count(database: None) -> None:
    seller = await make_seller()
    sms = replace(item(), channel=Channel.SMS)

    await outbox.enqueue(seller.id, [replace(sms, refused="bad")])
    await outbox.enqueue(seller.id, [replace(sms)])

    rows = await Notification.all().order_by("id")
    assert [(r.state, r.last_error) for r in rows] == [(S.FAILED, "bad"), (S.QUEUED, None)]
    assert await outbox.sent_today(seller.id, Channel.SMS) == 1


async def test_two_workers_never_claim_the_same_row(database: None) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [item(str(n)) for n in range(40)], fetch=False)

    claims = await asyncio.gather(
        *(outbox.claim(Channel.TELEGRAM, f"w{n}", 15, 30) for n in range(4))
    )

    ids = [row.id for rows in claims for row in rows]
    assert len(ids) == len(set(ids)) == 40
    assert await Notification.filter(state=S.SENDING).count() == 40


async def test_claims_take_the_most_urgent_due_rows_first(database: None) -> None:
    seller = await make_seller()
    later = datetime.now(UTC) + timedelta(hours=1)
    rows = await outbox.enqueue(
        seller.id,
        [
            item("bulk", priority=outbox.PRIORITY_BULK),
            item("otp", priority=outbox.PRIORITY_OTP),
            item("later", priority=outbox.PRIORITY_OTP),
        ],
    )
    await Notification.filter(id=rows[2].id).update(next_attempt_at=later)

    claimed = await outbox.claim(Channel.TELEGRAM, "w", 10, 30)

    assert [row.recipient for row in claimed] == ["otp", "bulk"]


async def test_a_worker_that_lost_its_row_does_not_send_it(database: None) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [item()], fetch=False)
    (row,) = await outbox.claim(Channel.TELEGRAM, "slow", 1, 30)
    await outbox.release([row], "slow")
    (taken,) = await outbox.claim(Channel.TELEGRAM, "fast", 1, 30)

    assert not await outbox.begin_attempt(row, "slow")
    assert await outbox.begin_attempt(taken, "fast")


async def test_recovery_requeues_untouched_rows_and_never_resends_handed_over_ones(
    database: None,
) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [item(str(n)) for n in range(3)], fetch=False)
    untouched, handed, done = await outbox.claim(Channel.TELEGRAM, "dead", 3, 30)
    await outbox.begin_attempt(handed, "dead")
    await outbox.begin_attempt(done, "dead")
    await outbox.mark_sent(done, "dead", "99")
    await Notification.filter(claimed_by="dead", state=S.SENDING).update(
        lease_until=datetime.now(UTC) - timedelta(seconds=1)
    )

    assert await outbox.recover_expired() == (1, 1)

    states = {row.id: row for row in await Notification.all()}
    assert states[untouched.id].state is S.QUEUED
    assert states[handed.id].state is S.UNCONFIRMED
    assert states[handed.id].last_error == outbox.UNCONFIRMED_REASON
    assert states[done.id].state is S.SENT


async def test_a_late_answer_still_settles_an_unconfirmed_row(database: None) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [item()], fetch=False)
    (row,) = await outbox.claim(Channel.TELEGRAM, "slow", 1, 30)
    await outbox.begin_attempt(row, "slow")
    await Notification.filter(id=row.id).update(lease_until=datetime.now(UTC))
    await outbox.recover_expired()

    await outbox.mark_sent(row, "slow", "7")

    stored = await Notification.get(id=row.id)
    assert (stored.state, stored.provider_message_id) == (S.SENT, "7")


async def test_live_leases_are_renewed_not_recovered(database: None) -> None:
    seller = await make_seller()
    await outbox.enqueue(seller.id, [item()], fetch=False)
    await outbox.enqueue(seller.id, [item("2")], fetch=False)
    held, dropped = await outbox.claim(Channel.TELEGRAM, "alive", 2, 0.01)
    await asyncio.sleep(0.02)

    # Only what the worker still works on is renewed: a row it lost track of runs out.
    assert await outbox.renew("alive", 30, [held.id]) == 1
    assert await outbox.recover_expired() == (1, 0)
    assert (await Notification.get(id=dropped.id)).state is S.QUEUED


async def test_a_sent_one_time_code_does_not_stay_readable(database: None) -> None:
    seller = await make_seller()
    code = Outgoing(
        channel=Channel.SMS, recipient="998901234567", type=MessageType.OTP, text="Code: 123456."
    )
    await outbox.enqueue(seller.id, [code], fetch=False)
    (row,) = await outbox.claim(Channel.SMS, "w", 1, 30)
    await outbox.begin_attempt(row, "w")

    await outbox.mark_sent(row, "w", "1")

    assert (await Notification.get(id=row.id)).text == "Code: ******."

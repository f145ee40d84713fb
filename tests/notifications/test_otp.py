"""One-time codes: hashed, expiring, single-use, few tries, rate-limited per phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import DailyCapReached, OtpInvalid, PlanRequired, TooManyRequests
from core.models import Channel, DeliveryState, MessageType, Notification, OtpCode
from core.schemas_notifications import OtpSendIn, OtpVerifyIn
from core.services import otp
from core.settings import Settings
from tests.fakes.eskiz import FakeEskizServer
from tests.notifications.conftest import drain, make_seller

PHONE = "998901234567"


async def test_a_generated_code_is_sent_by_sms_and_stored_only_hashed(
    database: None, channel_settings: Settings, eskiz: FakeEskizServer
) -> None:
    seller = await make_seller(language="ru")

    code, row = await otp.send(seller, OtpSendIn(phone="+998 (90) 123-45-67"))
    await drain(channel_settings)

    sms = eskiz.sent_sms[0]
    sent_code = next(word for word in sms.message.replace(".", " ").split() if word.isdigit())
    assert (sms.mobile_phone, len(sent_code)) == (PHONE, 6)
    assert (row.channel, row.type, row.priority) == (Channel.SMS, MessageType.OTP.value, 0)
    assert sent_code not in code.code_hash and code.code_hash == otp.code_hash(PHONE, sent_code)
    stored = await Notification.get(id=row.id)
    assert stored.state in (DeliveryState.SENT, DeliveryState.DELIVERED)
    assert sent_code not in stored.text  # scrubbed once sent
    assert await otp.verify(seller, OtpVerifyIn(phone=PHONE, code=sent_code))


async def test_a_code_works_once(database: None, channel_settings: Settings) -> None:
    seller = await make_seller()
    await otp.send(seller, OtpSendIn(phone=PHONE, code="4321"))

    assert await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="4321"))
    with pytest.raises(OtpInvalid):
        await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="4321"))


async def test_an_expired_code_is_refused(database: None, channel_settings: Settings) -> None:
    seller = await make_seller()
    code, _ = await otp.send(seller, OtpSendIn(phone=PHONE, code="4321"))
    await OtpCode.filter(id=code.id).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    with pytest.raises(OtpInvalid):
        await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="4321"))


async def test_wrong_guesses_spend_the_code(database: None, channel_settings: Settings) -> None:
    seller = await make_seller()
    await otp.send(seller, OtpSendIn(phone=PHONE, code="4321"))
    for _ in range(channel_settings.otp_max_attempts):
        with pytest.raises(OtpInvalid):
            await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="0000"))

    with pytest.raises(OtpInvalid):
        await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="4321"))
    assert (await OtpCode.get()).attempts == channel_settings.otp_max_attempts


async def test_codes_to_one_phone_are_rate_limited(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller()
    other = await make_seller("other", telegram_id=None)
    await otp.send(seller, OtpSendIn(phone=PHONE))

    with pytest.raises(TooManyRequests) as soon:
        await otp.send(other, OtpSendIn(phone=PHONE))  # whichever seller asks

    assert 1 <= soon.value.retry_after <= channel_settings.otp_resend_seconds
    await OtpCode.all().update(created_at=datetime.now(UTC) - timedelta(minutes=2))
    for _ in range(channel_settings.otp_per_phone_per_hour - 1):
        await otp.send(seller, OtpSendIn(phone=PHONE))
        await OtpCode.all().update(created_at=datetime.now(UTC) - timedelta(minutes=2))
    with pytest.raises(TooManyRequests):
        await otp.send(seller, OtpSendIn(phone=PHONE))
    assert await OtpCode.all().count() == channel_settings.otp_per_phone_per_hour


async def test_a_new_code_revokes_the_previous_one(
    database: None, channel_settings: Settings
) -> None:
    seller = await make_seller()
    await otp.send(seller, OtpSendIn(phone=PHONE, code="1111"))
    await OtpCode.all().update(created_at=datetime.now(UTC) - timedelta(minutes=2))
    await otp.send(seller, OtpSendIn(phone=PHONE, code="2222"))

    with pytest.raises(OtpInvalid):
        await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="1111"))
    assert await otp.verify(seller, OtpVerifyIn(phone=PHONE, code="2222"))


async def test_codes_need_sms_in_the_plan_and_count_against_the_cap(
    database: None, channel_settings: Settings
) -> None:
    free = await make_seller("free", plan="free")
    with pytest.raises(PlanRequired) as required:
        await otp.send(free, OtpSendIn(phone=PHONE))
    assert required.value.details["required_plan"] == "starter_pro"

    seller = await make_seller(plan="starter_pro", telegram_id=None)
    seller.plan = "starter_pro"
    await Notification.bulk_create(
        [
            Notification(
                seller_id=seller.id,
                channel=Channel.SMS,
                recipient=PHONE,
                type="custom",
                next_attempt_at=datetime.now(UTC),
                dedupe_key=f"seed:{n}",
            )
            for n in range(200)
        ]
    )
    for _ in range(channel_settings.otp_per_phone_per_hour + 2):
        with pytest.raises(DailyCapReached) as cap:
            await otp.send(seller, OtpSendIn(phone="998907777777"))
    assert cap.value.details["cap"] == 200
    assert await OtpCode.all().count() == 0
    # Refused sends spent none of the phone's hourly allowance: another seller still can.
    other = await make_seller("other", plan="starter_pro", telegram_id=None)
    await otp.send(other, OtpSendIn(phone="998907777777"))
    assert await OtpCode.all().count() == 1

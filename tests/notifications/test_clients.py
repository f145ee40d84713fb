"""The channel clients against the fakes, over real HTTP: answers and errors, classified."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from core.cache import MemoryCache
from core.integrations.delivery import (
    ChannelUnavailable,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
    WindowClosed,
)
from core.integrations.eskiz import TOKEN_KEY, EskizClient
from core.integrations.telegram import TelegramClient
from core.integrations.whatsapp import WhatsAppClient
from core.settings import Settings
from tests.fakes.eskiz import FakeEskizServer
from tests.fakes.telegram import FakeTelegramServer
from tests.fakes.whatsapp import FakeWhatsAppServer

PHONE = "998901234567"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def tg_client(channel_settings: Settings) -> AsyncIterator[TelegramClient]:
    client = TelegramClient(channel_settings)
    yield client
    await client.aclose()


async def test_telegram_sends_html_with_a_keyboard(
    tg_client: TelegramClient, telegram: FakeTelegramServer
) -> None:
    markup = {"inline_keyboard": [[{"text": "Open", "callback_data": "m:subscription"}]]}

    message_id = await tg_client.send_message(
        42, "<b>Paid</b> &amp; done", parse_mode="HTML", reply_markup=markup
    )

    sent = telegram.sent_messages[-1]
    assert (message_id, sent.chat_id, sent.parse_mode) == ("1", 42, "HTML")
    assert sent.reply_markup == markup
    assert telegram.messages[(42, 1)]["text"] == "Paid & done"


async def test_telegram_edit_to_the_same_text_is_not_an_error(
    tg_client: TelegramClient, telegram: FakeTelegramServer
) -> None:
    await tg_client.send_message(42, "one")

    await tg_client.edit_message_text(42, 1, "two")
    await tg_client.edit_message_text(42, 1, "two")

    assert telegram.messages[(42, 1)]["text"] == "two"


async def test_telegram_errors_are_classified(
    tg_client: TelegramClient, telegram: FakeTelegramServer
) -> None:
    telegram.blocked_chats.add(7)
    telegram.missing_chats.add(8)

    with pytest.raises(PermanentFailure) as blocked:
        await tg_client.send_message(7, "hi")
    with pytest.raises(PermanentFailure) as missing:
        await tg_client.send_message(8, "hi")
    await tg_client.send_message(9, "first")
    with pytest.raises(Throttled) as throttled:
        await tg_client.send_message(9, "second, within the same second")

    assert blocked.value.blocked and "blocked" in blocked.value.reason
    assert not missing.value.blocked and "chat not found" in missing.value.reason
    assert throttled.value.retry_after >= 1 and throttled.value.scope == "channel"


async def test_telegram_wrong_token_pauses_the_channel(channel_settings: Settings) -> None:
    async with FakeTelegramServer(token="1:right") as server:
        client = TelegramClient(
            channel_settings.model_copy(update={"telegram_api_url": server.base_url})
        )
        with pytest.raises(ChannelUnavailable):
            await client.send_message(1, "hi")
        await client.aclose()


async def test_telegram_server_errors_are_temporary(
    tg_client: TelegramClient, telegram: FakeTelegramServer
) -> None:
    telegram.failure_rate, telegram.failure_statuses = 1.0, (500,)

    with pytest.raises(TemporaryFailure):
        await tg_client.send_message(1, "hi")


async def test_telegram_unreachable_server_is_temporary(channel_settings: Settings) -> None:
    client = TelegramClient(
        channel_settings.model_copy(update={"telegram_api_url": "http://127.0.0.1:9"})
    )
    with pytest.raises(TemporaryFailure) as error:
        await client.send_message(1, "hi")
    await client.aclose()
    assert "before sending" in error.value.reason


# --- Eskiz ---------------------------------------------------------------------------------


async def test_eskiz_logs_in_once_and_keeps_the_token(
    channel_settings: Settings, eskiz: FakeEskizServer
) -> None:
    cache = MemoryCache()
    client = EskizClient(channel_settings, cache=cache)
    first = await client.send(PHONE, "Hello")
    await client.send(PHONE, "Again")
    await client.aclose()
    # A restarted worker reuses the cached token instead of logging in again.
    restarted = EskizClient(channel_settings, cache=cache)
    await restarted.send(PHONE, "After restart")
    await restarted.aclose()

    assert first == eskiz.sent_sms[0].id
    assert len(eskiz.calls("/auth/login")) == 1
    assert await cache.get(TOKEN_KEY) == eskiz.calls("/message/sms/send")[0].token


async def test_eskiz_expired_token_is_refreshed(
    channel_settings: Settings, eskiz: FakeEskizServer
) -> None:
    client = EskizClient(channel_settings, cache=MemoryCache())
    await client.send(PHONE, "one")
    eskiz.expire_tokens()

    await client.send(PHONE, "two")
    eskiz.revoke_tokens()
    await client.send(PHONE, "three")
    await client.aclose()

    assert [s.message for s in eskiz.sent_sms] == ["one", "two", "three"]
    assert len(eskiz.calls("/auth/refresh")) == 2
    assert len(eskiz.calls("/auth/login")) == 2


@pytest.mark.parametrize(
    ("too_many", "server_error", "expected"),
    [(1.0, 0.0, Throttled), (0.0, 1.0, TemporaryFailure)],
)
async def test_eskiz_429_and_5xx_come_back_for_our_backoff(
    channel_settings: Settings,
    eskiz: FakeEskizServer,
    too_many: float,
    server_error: float,
    expected: type[Exception],
) -> None:
    client = EskizClient(channel_settings, cache=MemoryCache())
    eskiz.too_many_requests_rate, eskiz.server_error_rate = too_many, server_error

    with pytest.raises(expected):
        await client.send(PHONE, "hi")
    await client.aclose()

    assert eskiz.sent_sms == []
    assert len(eskiz.calls("/message/sms/send")) == 1  # the SDK never retries a POST


async def test_eskiz_refusals(channel_settings: Settings, eskiz: FakeEskizServer) -> None:
    client = EskizClient(channel_settings, cache=MemoryCache())
    with pytest.raises(PermanentFailure):
        await client.send("12345", "hi")
    eskiz.balance = 0
    with pytest.raises(ChannelUnavailable):
        await client.send(PHONE, "hi")
    await client.aclose()
    wrong = channel_settings.model_copy(update={"eskiz_password": SecretStr("wrong")})
    bad = EskizClient(wrong, cache=MemoryCache())
    with pytest.raises(ChannelUnavailable):
        await bad.send(PHONE, "hi")
    await bad.aclose()


async def test_eskiz_status_reads_what_the_sdk_drops(channel_settings: Settings) -> None:
    clock = ManualClock()
    async with FakeEskizServer(
        email=channel_settings.eskiz_email,
        password=channel_settings.eskiz_password.get_secret_value(),
        delivery_delay=60,
        clock=clock,
    ) as server:
        server.undeliverable.add("998901111111")
        client = EskizClient(
            channel_settings.model_copy(update={"eskiz_api_url": server.api_url}),
            cache=MemoryCache(),
        )
        good = await client.send(PHONE, "hi")
        bad = await client.send("998901111111", "hi")
        waiting = await client.status(good)
        clock.now += 61
        delivered = await client.status(good)
        failed = await client.status(bad)
        await client.aclose()

    assert (waiting.raw, waiting.delivered, waiting.failed) == ("WAITING", False, False)
    assert (delivered.raw, delivered.delivered) == ("DELIVRD", True)
    assert (failed.raw, failed.failed) == ("UNDELIV", True)


# --- WhatsApp ------------------------------------------------------------------------------


@pytest.fixture
async def wa_client(channel_settings: Settings) -> AsyncIterator[WhatsAppClient]:
    client = WhatsAppClient(channel_settings)
    yield client
    await client.aclose()


async def test_whatsapp_text_needs_the_window_templates_do_not(
    wa_client: WhatsAppClient, whatsapp: FakeWhatsAppServer
) -> None:
    with pytest.raises(WindowClosed):
        await wa_client.send_text(PHONE, "free text")
    template_id = await wa_client.send_template(
        "998901111111", "order_shipped", "uz", ["Shop", "5", "T1"]
    )
    whatsapp.mark_customer_message("998902222222")
    text_id = await wa_client.send_text("998902222222", "free text")

    assert [m.id for m in whatsapp.sent_messages] == [template_id, text_id]
    template = whatsapp.sent_messages[0].template
    assert template is not None and template["language"] == {"code": "uz"}
    params = template["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Shop", "5", "T1"]


async def test_whatsapp_limits_are_classified(channel_settings: Settings) -> None:
    async with FakeWhatsAppServer(access_token="wa-test-token", throughput=2) as server:
        url = server.base_url + "/v21.0"
        client = WhatsAppClient(channel_settings.model_copy(update={"whatsapp_api_url": url}))
        await client.send_template(PHONE, "otp", "en", ["1234", "5"])
        with pytest.raises(Throttled) as pair:
            await client.send_template(PHONE, "otp", "en", ["1234", "5"])
        await client.send_template("998903333333", "otp", "en", ["1", "5"])
        with pytest.raises(Throttled) as number:
            await client.send_template("998904444444", "otp", "en", ["1", "5"])
        await client.aclose()

    assert pair.value.scope == "recipient" and pair.value.retry_after == 6.0
    assert number.value.scope == "channel"


async def test_whatsapp_wrong_token_and_bad_number(
    channel_settings: Settings, whatsapp: FakeWhatsAppServer
) -> None:
    wrong = WhatsAppClient(channel_settings.model_copy(update={"whatsapp_token": SecretStr("x")}))
    with pytest.raises(ChannelUnavailable):
        await wrong.send_template(PHONE, "otp", "en", [])
    await wrong.aclose()
    client = WhatsAppClient(channel_settings)
    with pytest.raises(PermanentFailure):
        await client.send_template("+998 90", "otp", "en", [])
    whatsapp.failure_rate = 1.0
    with pytest.raises(TemporaryFailure):
        await client.send_template(PHONE, "otp", "en", [])
    await client.aclose()

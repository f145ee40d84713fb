"""The fakes speak their protocols over real HTTP on 127.0.0.1, to real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from eskiz import AsyncEskizSMS, EskizBadRequest, InvalidCredentials

from .eskiz import FakeEskizServer
from .telegram import FakeTelegramServer
from .whatsapp import FakeWhatsAppServer

TOKEN = "123456:TEST-token"
EMAIL, PASSWORD = "dev@example.com", "secret"
PHONE = "998901234567"


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(clock=ManualClock()) as server:  # frozen: limits exact
        yield server


@pytest_asyncio.fixture
async def bot(telegram: FakeTelegramServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url))
    bot = Bot(TOKEN, session=session)
    yield bot
    await bot.session.close()


def keyboard() -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text="Orders", callback_data="orders:list")
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


# ----- Telegram -----


@pytest.mark.asyncio
async def test_aiogram_sends_message_and_reads_result(
    bot: Bot, telegram: FakeTelegramServer
) -> None:
    me = await bot.get_me()
    first = await bot.send_message(42, "<b>New order</b> &amp; more", parse_mode="HTML")
    other = await bot.send_message(43, "Hello", reply_markup=keyboard())

    assert (me.id, me.is_bot) == (123456, True)
    assert (first.message_id, first.chat.id, first.chat.type) == (1, 42, "private")
    assert first.text == "New order & more"
    assert first.from_user is not None and first.from_user.id == 123456
    assert other.message_id == 1
    assert other.reply_markup is not None
    assert other.reply_markup.model_dump() == keyboard().model_dump()
    assert [(m.chat_id, m.message_id, m.text) for m in telegram.sent_messages] == [
        (42, 1, "<b>New order</b> &amp; more"),
        (43, 1, "Hello"),
    ]
    assert telegram.sent_messages[1].reply_markup == keyboard().model_dump(exclude_none=True)


@pytest.mark.asyncio
async def test_second_message_to_one_chat_within_a_second_gets_429(
    bot: Bot, telegram: FakeTelegramServer
) -> None:
    await bot.send_message(42, "one")

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(42, "two")

    assert caught.value.retry_after == 1
    assert (telegram.stats.sent, telegram.stats.rate_limited) == (1, 1)
    assert telegram.stats.max_chat_rate == 1


@pytest.mark.asyncio
async def test_429_body_has_the_bot_api_shape(telegram: FakeTelegramServer) -> None:
    url = f"{telegram.base_url}/bot{TOKEN}/sendMessage"
    async with httpx.AsyncClient() as client:
        await client.post(url, data={"chat_id": "7", "text": "a"})
        response = await client.post(url, data={"chat_id": "7", "text": "b"})

    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


@pytest.mark.asyncio
async def test_global_rate_limits_sends_across_chats() -> None:
    clock = ManualClock()
    async with (
        FakeTelegramServer(global_rate=5, clock=clock) as server,
        httpx.AsyncClient() as client,
    ):
        url = f"{server.base_url}/bot{TOKEN}/sendMessage"
        statuses = [
            (await client.post(url, data={"chat_id": str(chat), "text": "x"})).status_code
            for chat in range(1, 8)
        ]

    assert statuses == [200] * 5 + [429] * 2
    assert (server.stats.max_rate, server.stats.rate_limited) == (5, 2)


@pytest.mark.asyncio
async def test_scale_multiplies_the_per_chat_rate() -> None:
    clock = ManualClock()
    async with FakeTelegramServer(scale=10, clock=clock) as server, httpx.AsyncClient() as c:
        url = f"{server.base_url}/bot{TOKEN}/sendMessage"
        first = await c.post(url, data={"chat_id": "5", "text": "a"})
        clock.now += 0.05
        too_soon = await c.post(url, data={"chat_id": "5", "text": "b"})
        clock.now += 0.06
        later = await c.post(url, data={"chat_id": "5", "text": "c"})

    assert [first.status_code, too_soon.status_code, later.status_code] == [200, 429, 200]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("knob", "error", "description"),
    [
        ("blocked_chats", TelegramForbiddenError, "Forbidden: bot was blocked by the user"),
        ("missing_chats", TelegramBadRequest, "Bad Request: chat not found"),
    ],
)
async def test_chat_faults(
    bot: Bot, telegram: FakeTelegramServer, knob: str, error: type[Exception], description: str
) -> None:
    getattr(telegram, knob).add(42)

    with pytest.raises(error) as caught:
        await bot.send_message(42, "hi")

    assert caught.value.message == description  # type: ignore[attr-defined]
    assert telegram.stats.errors == 1


async def send_statuses(server: FakeTelegramServer, chats: range) -> list[int]:
    url = f"{server.base_url}/bot{TOKEN}/sendMessage"
    async with httpx.AsyncClient() as client:
        return [
            (await client.post(url, data={"chat_id": str(chat), "text": "x"})).status_code
            for chat in chats
        ]


@pytest.mark.asyncio
async def test_random_failures_repeat_with_the_seed() -> None:
    runs = []
    for _ in range(2):
        async with FakeTelegramServer(failure_rate=0.5, seed=7) as server:
            runs.append(await send_statuses(server, range(1, 13)))

    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 429, 500}


@pytest.mark.asyncio
async def test_server_errors_reach_aiogram_as_server_errors() -> None:
    async with FakeTelegramServer(failure_rate=1.0, failure_statuses=(500,)) as server:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
        try:
            with pytest.raises(TelegramServerError):
                await bot.send_message(1, "x")
        finally:
            await bot.session.close()

    assert (server.stats.errors, server.stats.sent) == (1, 0)


@pytest.mark.asyncio
async def test_dispatcher_polls_and_answers(bot: Bot, telegram: FakeTelegramServer) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome")

    telegram.push_message(42, "/start")
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False)
    )
    try:
        for _ in range(100):
            if telegram.sent_messages:
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, timeout=5)

    assert [(m.chat_id, m.text) for m in telegram.sent_messages] == [(42, "Welcome")]


@pytest.mark.asyncio
async def test_bad_html_is_rejected_like_telegram(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(42, "<b>unclosed", parse_mode="HTML")

    assert caught.value.message.startswith("Bad Request: can't parse entities")


@pytest.mark.asyncio
async def test_edit_and_delete_message(bot: Bot, telegram: FakeTelegramServer) -> None:
    sent = await bot.send_message(42, "Order #1: new", reply_markup=keyboard())

    edited = await bot.edit_message_text("Order #1: paid", chat_id=42, message_id=1)
    with pytest.raises(TelegramBadRequest) as not_modified:
        await bot.edit_message_text("Order #1: paid", chat_id=42, message_id=1)
    assert await bot.delete_message(42, sent.message_id) is True

    assert isinstance(edited, type(sent)) and edited.text == "Order #1: paid"
    assert edited.reply_markup is None
    assert "message is not modified" in not_modified.value.message
    assert telegram.deleted_messages == [(42, 1)]


@pytest.mark.asyncio
async def test_get_updates_long_polls_until_an_update_arrives(
    bot: Bot, telegram: FakeTelegramServer
) -> None:
    async def push_later() -> None:
        await asyncio.sleep(0.1)
        telegram.push_message(42, "/start")

    pusher = asyncio.create_task(push_later())
    updates = await asyncio.wait_for(bot.get_updates(timeout=3), timeout=5)
    await pusher
    confirmed = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)

    assert [u.message.text for u in updates if u.message] == ["/start"]
    assert confirmed == []


@pytest.mark.asyncio
async def test_webhook_and_commands(bot: Bot, telegram: FakeTelegramServer) -> None:
    await bot.set_webhook("https://example.test/tg", secret_token="s3cret")
    info = await bot.get_webhook_info()
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    await bot.delete_webhook()
    await bot.set_my_commands([{"command": "start", "description": "Start"}])  # type: ignore[list-item]

    assert info.url == "https://example.test/tg"
    assert telegram.webhook is None
    assert [c.command for c in await bot.get_my_commands()] == ["start"]


@pytest.mark.asyncio
async def test_photo_upload_and_file_download(bot: Bot, telegram: FakeTelegramServer) -> None:
    file_id = telegram.register_file(b"\xff\xd8registered")

    sent = await bot.send_photo(42, BufferedInputFile(b"\xff\xd8upload", "p.jpg"), caption="c")
    assert sent.photo is not None
    uploaded = await bot.get_file(sent.photo[-1].file_id)
    registered = await bot.get_file(file_id)
    assert uploaded.file_path is not None and registered.file_path is not None
    uploaded_data = await bot.download_file(uploaded.file_path)
    registered_data = await bot.download_file(registered.file_path)

    assert sent.caption == "c"
    assert uploaded_data is not None and uploaded_data.read() == b"\xff\xd8upload"
    assert registered_data is not None and registered_data.read() == b"\xff\xd8registered"


# ----- Eskiz -----


@pytest.fixture
def eskiz_clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def eskiz(eskiz_clock: ManualClock) -> AsyncIterator[FakeEskizServer]:
    async with FakeEskizServer(
        email=EMAIL, password=PASSWORD, token_lifetime=60, refresh_grace=60, clock=eskiz_clock
    ) as server:
        yield server


@pytest_asyncio.fixture
async def sms_client(eskiz: FakeEskizServer) -> AsyncIterator[AsyncEskizSMS]:
    client = AsyncEskizSMS(email=EMAIL, password=PASSWORD, base_url=eskiz.api_url)
    yield client
    await client.aclose()


def paths(server: FakeEskizServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


@pytest.mark.asyncio
async def test_eskiz_sdk_logs_in_sends_and_reads_status(
    eskiz: FakeEskizServer, sms_client: AsyncEskizSMS
) -> None:
    result = await sms_client.sms.send(mobile_phone="+998 90 123 45 67", message="Code 1234")
    status = await sms_client.sms.status(str(result.id))
    balance = await sms_client.reports.balance()

    assert (result.message, result.status) == ("Waiting for SMS provider", "waiting")
    assert (status.to, status.message) == (PHONE, "Code 1234")
    assert balance.balance == 100_000 - 50
    assert eskiz.sent_sms[0].sender == "4546"
    assert paths(eskiz)[:2] == ["POST /api/auth/login", "POST /api/message/sms/send"]


@pytest.mark.asyncio
async def test_eskiz_sdk_refreshes_an_expired_token(
    eskiz: FakeEskizServer, sms_client: AsyncEskizSMS, eskiz_clock: ManualClock
) -> None:
    await sms_client.sms.send(mobile_phone=PHONE, message="one")
    eskiz_clock.now += 61

    await sms_client.sms.send(mobile_phone=PHONE, message="two")

    assert paths(eskiz) == [
        "POST /api/auth/login",
        "POST /api/message/sms/send",
        "POST /api/message/sms/send",
        "PATCH /api/auth/refresh",
        "POST /api/message/sms/send",
    ]
    assert eskiz.requests[2].token != eskiz.requests[4].token
    assert [s.message for s in eskiz.sent_sms] == ["one", "two"]


@pytest.mark.asyncio
async def test_eskiz_sdk_logs_in_again_when_refresh_is_too_late(
    eskiz: FakeEskizServer, sms_client: AsyncEskizSMS, eskiz_clock: ManualClock
) -> None:
    await sms_client.sms.send(mobile_phone=PHONE, message="one")
    eskiz_clock.now += 200

    await sms_client.sms.send(mobile_phone=PHONE, message="two")

    assert paths(eskiz)[-3:] == [
        "PATCH /api/auth/refresh",
        "POST /api/auth/login",
        "POST /api/message/sms/send",
    ]


@pytest.mark.asyncio
async def test_eskiz_rejects_bad_phone_and_bad_password(
    eskiz: FakeEskizServer, sms_client: AsyncEskizSMS
) -> None:
    with pytest.raises(EskizBadRequest) as bad_phone:
        await sms_client.sms.send(mobile_phone="99890123", message="x")
    wrong = AsyncEskizSMS(email=EMAIL, password="wrong", base_url=eskiz.api_url)
    try:
        with pytest.raises(InvalidCredentials):
            await wrong.reports.balance()
    finally:
        await wrong.aclose()

    assert bad_phone.value.status_code == 400
    assert "998" in bad_phone.value.message
    assert eskiz.sent_sms == []


@pytest.mark.asyncio
async def test_eskiz_batch_send(eskiz: FakeEskizServer, sms_client: AsyncEskizSMS) -> None:
    rows = [
        {"user_sms_id": "a", "to": "998900000001", "text": "Hi A"},
        {"user_sms_id": "b", "to": "998900000002", "text": "Hi B"},
    ]

    result = await sms_client.sms.send_batch(messages=rows, dispatch_id=7)

    assert result.status == ["waiting", "waiting"]
    assert [(s.mobile_phone, s.dispatch_id, s.user_sms_id) for s in eskiz.sent_sms] == [
        ("998900000001", 7, "a"),
        ("998900000002", 7, "b"),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("knob", "status"), [("too_many_requests_rate", 429), ("server_error_rate", 500)]
)
async def test_eskiz_fault_knobs(knob: str, status: int) -> None:
    async with FakeEskizServer(email=EMAIL, password=PASSWORD) as server:
        setattr(server, knob, 1.0)
        client = AsyncEskizSMS(email=EMAIL, password=PASSWORD, base_url=server.api_url)
        try:
            with pytest.raises(EskizBadRequest) as caught:
                await client.sms.send(mobile_phone=PHONE, message="x")
        finally:
            await client.aclose()

    assert caught.value.status_code == status
    assert server.sent_sms == []


# ----- WhatsApp -----


@pytest.fixture
def whatsapp_clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def whatsapp(whatsapp_clock: ManualClock) -> AsyncIterator[FakeWhatsAppServer]:
    async with FakeWhatsAppServer(access_token="wa-token", clock=whatsapp_clock) as server:
        yield server


async def post_whatsapp(
    server: FakeWhatsAppServer, body: dict[str, Any], token: str = "wa-token"
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        return await client.post(
            "/v21.0/1055/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )


def text_body(to: str = PHONE, body: str = "Your order shipped") -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def template_body(to: str = PHONE) -> dict[str, Any]:
    parameters = [{"type": "text", "text": "#1001"}]
    template = {
        "name": "order_shipped",
        "language": {"code": "uz"},
        "components": [{"type": "body", "parameters": parameters}],
    }
    return {"messaging_product": "whatsapp", "to": to, "type": "template", "template": template}


@pytest.mark.asyncio
async def test_whatsapp_text_outside_the_window_fails_with_131047(
    whatsapp: FakeWhatsAppServer,
) -> None:
    response = await post_whatsapp(whatsapp, text_body())

    error = response.json()["error"]
    assert (response.status_code, error["code"], error["type"]) == (400, 131047, "OAuthException")
    assert "fbtrace_id" in error and whatsapp.sent_messages == []


@pytest.mark.asyncio
async def test_whatsapp_window_opens_and_closes(
    whatsapp: FakeWhatsAppServer, whatsapp_clock: ManualClock
) -> None:
    whatsapp.mark_customer_message(PHONE)
    inside = await post_whatsapp(whatsapp, text_body())
    whatsapp_clock.now += 24 * 3600 + 1
    outside = await post_whatsapp(whatsapp, text_body())

    assert inside.status_code == 200
    assert inside.json() == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": PHONE, "wa_id": PHONE}],
        "messages": [{"id": whatsapp.sent_messages[0].id}],
    }
    assert outside.json()["error"]["code"] == 131047


@pytest.mark.asyncio
async def test_whatsapp_template_succeeds_outside_the_window(
    whatsapp: FakeWhatsAppServer,
) -> None:
    response = await post_whatsapp(whatsapp, template_body())

    assert response.status_code == 200
    assert response.json()["messages"][0]["id"].startswith("wamid.")
    assert whatsapp.sent_messages[0].template == template_body()["template"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "token", "http_status", "code"),
    [
        (template_body(), "wrong", 401, 190),
        ({**template_body(), "messaging_product": "sms"}, "wa-token", 400, 100),
        (template_body(to="+99890"), "wa-token", 400, 100),
        (text_body(body="x" * 4097), "wa-token", 400, 100),
    ],
)
async def test_whatsapp_rejects_bad_requests(
    whatsapp: FakeWhatsAppServer, body: dict[str, Any], token: str, http_status: int, code: int
) -> None:
    whatsapp.mark_customer_message(PHONE)

    response = await post_whatsapp(whatsapp, body, token=token)

    assert (response.status_code, response.json()["error"]["code"]) == (http_status, code)


@pytest.mark.asyncio
async def test_whatsapp_pair_and_throughput_limits(whatsapp_clock: ManualClock) -> None:
    async with FakeWhatsAppServer(
        access_token="wa-token", throughput=2, clock=whatsapp_clock
    ) as server:
        first = await post_whatsapp(server, template_body())
        same_recipient = await post_whatsapp(server, template_body())
        second = await post_whatsapp(server, template_body(to="998900000002"))
        third = await post_whatsapp(server, template_body(to="998900000003"))
        whatsapp_clock.now += 6
        later = await post_whatsapp(server, template_body())

    assert [first.status_code, second.status_code, later.status_code] == [200, 200, 200]
    assert (same_recipient.status_code, same_recipient.json()["error"]["code"]) == (400, 131056)
    assert (third.status_code, third.json()["error"]["code"]) == (429, 130429)
    assert (server.stats.pair_limited, server.stats.throttled) == (1, 1)

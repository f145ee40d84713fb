"""The real Dispatcher, long polling a fake Bot API over HTTP: from /start to a saved product."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import pytest

from bot.factory import create_bot, create_dispatcher
from core.i18n import t
from core.models import Product
from core.settings import Settings
from tests.fakes.telegram import FakeTelegramServer, SentMessage, render_text

CHAT = 5005
TOKEN = "123456:TEST-e2e-polling-token"
WAIT = 10.0  # seconds any one step may take
SCALE = 100  # Telegram's rate limits at a hundred times the speed
# The user types at a human pace (scaled): the fake holds the bot to one message a second.
PACE = 2 / SCALE


class Chat:
    """One user talking to the polling bot through the fake server."""

    def __init__(self, tg: FakeTelegramServer) -> None:
        self.tg = tg

    async def until(self, ready: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if result := ready():
                return result
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}; sent: {self.tg.sent_messages}")

    async def reply_to(self, push: Callable[[], int], what: str) -> SentMessage:
        """Push an update and wait for the next message the bot sends."""
        await asyncio.sleep(PACE)
        before = len(self.tg.sent_messages)
        push()
        return await self.until(
            lambda: len(self.tg.sent_messages) > before and self.tg.sent_messages[-1], what
        )

    async def edit_of(self, message_id: int, data: str, text: str) -> None:
        """Press a button on a message and wait until the bot has edited it to `text`."""
        await asyncio.sleep(PACE)
        self.tg.push_callback_query(CHAT, data, message_id)
        await self.until(
            lambda: self.tg.messages[(CHAT, message_id)].get("text") == render_text(text, "HTML"),
            f"{data} to edit message {message_id}",
        )

    def push_photo(self, file_id: str) -> int:
        size = {"file_id": file_id, "file_unique_id": file_id + "u", "width": 800, "height": 600}
        message = {
            "message_id": 10_000,
            "from": {"id": CHAT, "is_bot": False, "first_name": "Tester"},
            "chat": {"id": CHAT, "type": "private", "first_name": "Tester"},
            "date": int(time.time()),
            "photo": [size],
        }
        return self.tg.push_update({"message": message})


@pytest.fixture
async def polling(database: None, settings: Settings) -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(scale=SCALE, max_long_poll=1) as tg:
        bot = create_bot(settings.model_copy(update={"telegram_api_url": tg.base_url}), TOKEN)
        dispatcher = create_dispatcher()
        task = asyncio.create_task(
            dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
        )
        try:
            yield tg
        finally:
            if dispatcher._running_lock.locked():
                await dispatcher.stop_polling()
            await asyncio.wait_for(task, WAIT)


async def test_a_new_seller_adds_a_product_over_long_polling(
    polling: FakeTelegramServer,
) -> None:
    tg, chat = polling, Chat(polling)
    async with asyncio.timeout(60):
        start = await chat.reply_to(lambda: tg.push_message(CHAT, "/start"), "/start")
        assert start.text == t("start.choose_language", "uz")  # no Telegram language: Uzbek
        await chat.edit_of(start.message_id, "lang:en:1", t("start.welcome", "en"))

        menu = await chat.reply_to(
            lambda: tg.push_callback_query(CHAT, "ob:create", start.message_id), "account"
        )
        assert menu.text == t("menu.title", "en", name="Tester")
        await chat.edit_of(menu.message_id, "m:products", t("products.list_empty", "en"))
        first_step = (
            t("products.step", "en", step=1, steps=6) + "\n\n" + t("products.ask_name", "en")
        )
        await chat.edit_of(menu.message_id, "pa:new", first_step)

        for text in ("Green tea 100 g", "GT-100", "250 000", "15"):
            prompt = await chat.reply_to(partial(tg.push_message, CHAT, text), text)
        await chat.edit_of(
            prompt.message_id,
            "pa:skip",
            t("products.step", "en", step=6, steps=6) + "\n\n" + t("products.ask_photo", "en"),
        )
        photo = tg.register_file(b"\xff\xd8\xff\xe0 a jpeg", kind="photos")
        card = await chat.reply_to(lambda: chat.push_photo(photo), "the saved card")

    product = await Product.get(sku="GT-100")
    assert (product.name, product.price, product.stock, product.photos) == (
        "Green tea 100 g",
        250_000,
        15,
        [f"tg:{photo}"],
    )
    assert card.method == "sendPhoto"
    assert card.parse_mode == "HTML"
    assert card.text == (
        "✅ Product saved\n\n📦 <b>Green tea 100 g</b>\nSKU: <code>GT-100</code>\n"
        "💰 Price: 250,000 UZS\n📊 In stock: 15 pcs\n🏷 Category: —\n🖼 Photos: 1"
    )
    presses = 5
    assert len(tg.answered_callbacks) == presses
    assert (tg.stats.errors, tg.stats.rate_limited) == (0, 0)

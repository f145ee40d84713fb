"""Bot test kit: a recording Bot session and builders of real Update objects.

    kit = BotKit()                      # Dispatcher from bot.factory, Bot with a recording session
    await kit.send("/start", user_id=1) # feeds a Message update through the Dispatcher
    call = kit.last("sendMessage")      # the recorded TelegramMethod object
    assert call.text == "..."; kit.buttons(call) -> [[(text, callback_data)], ...]
    await kit.press(call, "lang:ru:1")  # feeds a CallbackQuery on the message that call sent

The session answers every method with a well-formed result (Message for send/edit methods,
True for the rest), so handlers run exactly as they would against Telegram.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import EditMessageCaption, SendPhoto, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
)

from bot.factory import create_dispatcher

BOT_ID = 42
BOT_TOKEN = f"{BOT_ID}:TEST-token-for-recording-session-0000000"
BOT_USER = User(id=BOT_ID, is_bot=True, first_name="SellerCloudX", username="SellerCloudXBot")
MESSAGE_METHODS = {
    "sendMessage",
    "editMessageText",
    "sendPhoto",
    "sendVideo",
    "sendDocument",
    "editMessageReplyMarkup",
    "editMessageCaption",
}


class RecordingSession(BaseSession):
    """Records every request and answers it as Telegram would, without a network."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        return None

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.requests.append(method)
        name = method.__api_method__
        if name == "getMe":
            return BOT_USER  # type: ignore[return-value]
        if name in MESSAGE_METHODS:
            return self._message(method)  # type: ignore[return-value]
        return True  # type: ignore[return-value]

    def _message(self, method: TelegramMethod[Any]) -> Message:
        chat_id = int(getattr(method, "chat_id", None) or 0)
        message_id = getattr(method, "message_id", None) or next(self._ids)
        markup = getattr(method, "reply_markup", None)
        return Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=chat_id, type="private"),
            from_user=BOT_USER,
            text=getattr(method, "text", None),
            caption=getattr(method, "caption", None),
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        )

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""


def user(user_id: int, language: str = "en", name: str = "Test") -> User:
    return User(id=user_id, is_bot=False, first_name=name, language_code=language)


class BotKit:
    def __init__(self, dispatcher: Dispatcher | None = None) -> None:
        self.session = RecordingSession()
        self.bot = Bot(BOT_TOKEN, session=self.session)
        self.dispatcher = dispatcher or create_dispatcher(MemoryStorage())
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    # --- feeding updates ----------------------------------------------------------------

    async def feed(self, update: Update) -> None:
        await self.dispatcher.feed_update(self.bot, update)

    async def send(
        self,
        text: str | None = None,
        *,
        user_id: int = 1001,
        language: str = "en",
        photo: str | None = None,
        caption: str | None = None,
    ) -> Message:
        message = Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=user_id, type="private"),
            from_user=user(user_id, language),
            text=text,
            caption=caption,
            photo=[PhotoSize(file_id=photo, file_unique_id=photo + "u", width=800, height=800)]
            if photo
            else None,
        )
        await self.feed(Update(update_id=next(self._update_ids), message=message))
        return message

    async def press(
        self,
        data: str,
        *,
        on: TelegramMethod[Any] | Message | None = None,
        user_id: int = 1001,
        language: str = "en",
    ) -> None:
        """Press an inline button with callback `data` on a sent message.

        Pressed on a recorded `sendPhoto` (or `editMessageCaption`), the message is a photo
        with that caption, as Telegram would hand it over; otherwise a text message.
        """
        message_id = 1
        if isinstance(on, Message):
            message_id = on.message_id
        elif on is not None:
            message_id = getattr(on, "message_id", None) or 1
        is_photo = isinstance(on, SendPhoto | EditMessageCaption)
        message = Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=user_id, type="private"),
            from_user=BOT_USER,
            text=None if is_photo else "…",
            caption=getattr(on, "caption", None) if is_photo else None,
            photo=[PhotoSize(file_id="sent", file_unique_id="sentu", width=800, height=800)]
            if is_photo
            else None,
        )
        query = CallbackQuery(
            id=str(next(self._update_ids)),
            from_user=user(user_id, language),
            chat_instance="ci",
            message=message,
            data=data,
        )
        await self.feed(Update(update_id=next(self._update_ids), callback_query=query))

    # --- reading what the bot did ---------------------------------------------------------

    def calls(self, name: str | None = None) -> list[TelegramMethod[Any]]:
        return [r for r in self.session.requests if name is None or r.__api_method__ == name]

    def last(self, name: str | None = None) -> Any:
        calls = self.calls(name)
        assert calls, f"the bot made no {name or 'request'}; made: {self.names()}"
        return calls[-1]

    def names(self) -> list[str]:
        return [r.__api_method__ for r in self.session.requests]

    def last_text(self) -> str:
        """The text of the last message the bot sent or edited."""
        for request in reversed(self.session.requests):
            text = getattr(request, "text", None) or getattr(request, "caption", None)
            if text:
                return str(text)
        raise AssertionError(f"the bot sent no text; made: {self.names()}")

    @staticmethod
    def buttons(call: Any) -> list[list[tuple[str, str | None]]]:
        markup = getattr(call, "reply_markup", None)
        if not isinstance(markup, InlineKeyboardMarkup):
            return []
        return [
            [(b.text, b.callback_data or b.url) for b in row] for row in markup.inline_keyboard
        ]

    def button_data(self, call: Any, text_part: str) -> str:
        for row in self.buttons(call):
            for text, data in row:
                if text_part in text and data:
                    return data
        raise AssertionError(f"no button with {text_part!r} in {self.buttons(call)}")

    def clear(self) -> None:
        self.session.requests.clear()

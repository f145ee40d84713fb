"""How screens replace each other when Telegram refuses an edit."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from core.i18n import t
from core.services import accounts
from tests.botkit import BOT_TOKEN, BotKit, RecordingSession


class RefusingSession(RecordingSession):
    """Answers every editMessageText with one Bad Request."""

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if method.__api_method__ == "editMessageText":
            self.requests.append(method)
            raise TelegramBadRequest(method=method, message=self.description)
        return await super().make_request(bot, method, timeout)


def refusing_kit(description: str) -> BotKit:
    kit = BotKit()
    kit.session = RefusingSession(description)
    kit.bot = Bot(BOT_TOKEN, session=kit.session)
    return kit


async def test_the_same_screen_twice_is_not_an_error(database: None) -> None:
    await accounts.register_from_telegram(1001, "Owner", "en")
    kit = refusing_kit("Bad Request: message is not modified: specified new message content")

    await kit.press("pp:1")

    answer: Any = kit.last("answerCallbackQuery")
    assert (answer.text, answer.show_alert) == (None, None)


async def test_other_refusals_are_reported(database: None) -> None:
    await accounts.register_from_telegram(1001, "Owner", "ru")
    kit = refusing_kit("Bad Request: message to edit not found")

    await kit.press("m:orders")

    # One answer only: Telegram refuses a second answer to the same press.
    answers: list[Any] = kit.calls("answerCallbackQuery")
    assert [(a.text, a.show_alert) for a in answers] == [(t("errors.internal_error", "ru"), True)]

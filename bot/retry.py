"""Interactive bot replies survive Telegram's flood control.

aiogram raises TelegramRetryAfter and never retries by itself (PROTOCOLS.md). A seller
typing quickly through a flow should not see "something went wrong" for that: the reply is
sent again after the pause Telegram asked for, if the pause is short. Bulk traffic does not
go through here: the notification outbox paces and retries it on its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response, TelegramMethod

log = logging.getLogger(__name__)


class RetryAfterMiddleware(BaseRequestMiddleware):
    def __init__(self, max_wait: float = 5.0, attempts: int = 2) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        for attempt in range(self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.warning(
                    "telegram flood control method=%s retry_after=%s",
                    method.__api_method__,
                    exc.retry_after,
                )
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")

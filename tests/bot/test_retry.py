from __future__ import annotations

from bot.factory import create_bot
from core.settings import Settings
from tests.fakes.telegram import FakeTelegramServer


async def test_a_flood_limited_reply_is_sent_after_the_pause() -> None:
    async with FakeTelegramServer() as tg:
        bot = create_bot(Settings(_env_file=None, telegram_api_url=tg.base_url), "123456:TEST")
        try:
            first = await bot.send_message(77, "one")
            second = await bot.send_message(77, "two")  # 1 per second per chat: 429 first
        finally:
            await bot.session.close()

    assert (first.text, second.text) == ("one", "two")
    assert tg.stats.rate_limited == 1
    assert [m.text for m in tg.sent_messages] == ["one", "two"]

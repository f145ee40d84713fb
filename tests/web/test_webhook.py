"""`POST /telegram/webhook`: secret, process-then-answer, once-only, redelivery on failure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis.exceptions
from aiogram import Bot
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from bot.factory import create_bot, create_dispatcher
from bot.storage import create_fsm
from core.models import ProcessedUpdate, UpdateState
from core.services import accounts, updates
from core.settings import Settings
from tests.fakes.telegram import FakeTelegramServer
from web.app import create_app
from web.routes import telegram as telegram_routes
from web.routes.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramWebhook

TOKEN = "424242:TEST-webhook-token-000000000000000000"
SECRET = "the-webhook-secret"


@dataclass
class Hook:
    client: TestClient
    telegram: FakeTelegramServer
    bot: Bot

    async def deliver(self) -> list[int]:
        return await self.telegram.deliver_webhook_updates()

    def sent_to(self, chat_id: int) -> list[str | None]:
        return [m.text for m in self.telegram.sent_messages if m.chat_id == chat_id]

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> Any:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.client.post(WEBHOOK_PATH, json=update, headers=headers)


@pytest.fixture
async def hook(
    database: None, settings: Settings, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> AsyncIterator[Hook]:
    async with FakeTelegramServer(chat_rate=100) as telegram:
        configured = settings.model_copy(
            update={
                "bot_token": SecretStr(TOKEN),
                "bot_mode": "webhook",
                "webhook_secret": SecretStr(SECRET),
                "telegram_api_url": telegram.base_url,
            }
        )
        storage, isolation = create_fsm(configured)
        bot = create_bot(configured)
        app = create_app(configured)
        hook = TelegramWebhook(bot, create_dispatcher(storage, isolation), SECRET, 60)
        telegram_routes.setup(app, hook)
        client = await aiohttp_client(app)
        await bot.set_webhook(str(client.make_url(WEBHOOK_PATH)), secret_token=SECRET)
        yield Hook(client, telegram, bot)
        await bot.session.close()


async def test_an_update_is_processed_before_it_is_answered(hook: Hook) -> None:
    hook.telegram.push_message(501, "/start")

    statuses = await hook.deliver()

    # deliver() returned only after our answer: the reply was already sent by then.
    assert statuses == [200]
    assert len(hook.sent_to(501)) == 1
    assert await ProcessedUpdate.filter(state=UpdateState.DONE).count() == 1


async def test_a_repeated_update_is_applied_once(hook: Hook) -> None:
    update_id = hook.telegram.push_message(502, "/start")
    update = dict(hook.telegram.updates[0])
    hook.telegram.push_update(update)

    assert await hook.deliver() == [200, 200]
    assert len(hook.sent_to(502)) == 1
    assert update_id == update["update_id"]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_refused_unprocessed(
    hook: Hook, secret: str | None
) -> None:
    hook.telegram.push_message(503, "/start")
    response = await hook.post(hook.telegram.updates[0], secret=secret)
    body = await response.json()

    assert response.status == 401
    assert body["error"]["code"] == "not_authenticated"
    assert hook.sent_to(503) == []
    assert await ProcessedUpdate.all().count() == 0


async def test_garbage_is_a_json_400(hook: Hook) -> None:
    response = await hook.client.post(
        WEBHOOK_PATH, data=b"not json", headers={SECRET_HEADER: SECRET}
    )
    assert response.status == 400
    assert (await response.json())["success"] is False


async def test_a_failed_update_is_answered_non_2xx_and_done_on_redelivery(hook: Hook) -> None:
    hook.telegram.failure_rate = 1.0
    hook.telegram.failure_statuses = (500,)
    hook.telegram.push_message(504, "/start")

    first = await hook.deliver()
    hook.telegram.failure_rate = 0.0
    second = await hook.deliver()

    assert first[0] >= 500
    assert second == [200]
    assert len(hook.sent_to(504)) == 1
    assert hook.telegram.updates == []


async def test_an_outage_during_an_update_answers_503_and_releases_it(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def redis_down(telegram_id: int) -> None:
        raise redis.exceptions.ConnectionError("Redis is restarting")

    monkeypatch.setattr(accounts, "by_telegram", redis_down)
    hook.telegram.push_message(505, "/start")

    response = await hook.post(hook.telegram.updates[0])

    assert response.status == 503
    assert (await response.json())["error"]["code"] == "service_unavailable"
    assert hook.sent_to(505) == []  # no "something went wrong" for an outage
    assert await ProcessedUpdate.all().count() == 0  # the redelivery will take it
    monkeypatch.undo()
    assert await hook.deliver() == [200]
    assert len(hook.sent_to(505)) == 1


async def test_an_update_in_progress_elsewhere_is_asked_again_later(hook: Hook) -> None:
    update_id = hook.telegram.push_message(506, "/start")
    await updates.claim(hook.bot.id, update_id, stale_after=60)

    response = await hook.post(hook.telegram.updates[0])

    assert response.status == 503
    assert (await response.json())["error"]["code"] == "update_in_progress"
    assert hook.sent_to(506) == []


async def test_the_route_exists_only_with_the_bot(client: TestClient) -> None:
    response = await client.post(WEBHOOK_PATH, json={}, headers={SECRET_HEADER: SECRET})
    assert response.status == 404
    assert (await response.json())["success"] is False


class LockLostOnRelease(BaseEventIsolation):
    """Event isolation whose lock cannot be released: Redis went away during the update."""

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        yield
        raise redis.exceptions.ConnectionError("Redis went away")

    async def close(self) -> None:
        return None


async def test_a_failure_after_the_handlers_ran_does_not_run_them_again(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = hook.client.app[telegram_routes.TELEGRAM].dispatcher
    monkeypatch.setattr(dispatcher.fsm, "events_isolation", LockLostOnRelease())
    hook.telegram.push_message(507, "/start")
    hook.telegram.push_update(dict(hook.telegram.updates[0]))  # and Telegram repeats it

    assert await hook.deliver() == [200, 200]
    assert len(hook.sent_to(507)) == 1
    assert await ProcessedUpdate.filter(state=UpdateState.DONE).count() == 1


async def test_an_update_processed_while_the_database_cannot_mark_it_is_still_acknowledged(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_gone(bot_id: int, update_id: int) -> None:
        raise ConnectionRefusedError("PostgreSQL is restarting")

    monkeypatch.setattr(updates, "finish", database_gone)
    hook.telegram.push_message(508, "/start")

    assert await hook.deliver() == [200]
    assert len(hook.sent_to(508)) == 1

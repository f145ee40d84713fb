"""Bot and Dispatcher factories: the one place where the routers are assembled."""

from __future__ import annotations

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.middlewares import ContextMiddleware
from bot.observe import observe
from bot.retry import RetryAfterMiddleware
from core.settings import Settings


def create_bot(settings: Settings, token: str | None = None) -> Bot:
    secret = token or (settings.bot_token.get_secret_value() if settings.bot_token else "")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(RetryAfterMiddleware())
    return Bot(secret, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def _detach(router: Router) -> None:
    """Feature routers are module singletons; a new Dispatcher (tests build many) takes them
    over from the previous one, since aiogram lets a router have one parent at a time."""
    parent = router.parent_router
    if parent is not None:
        parent.sub_routers.remove(router)
        router._parent_router = None


def create_dispatcher(
    storage: BaseStorage | None = None, events_isolation: BaseEventIsolation | None = None
) -> Dispatcher:
    """The Dispatcher with every router; `bot.storage.create_fsm` gives scale-out storage."""
    from handlers import routers

    dispatcher = Dispatcher(storage=storage or MemoryStorage(), events_isolation=events_isolation)
    observe(dispatcher)
    context = ContextMiddleware()
    dispatcher.message.outer_middleware(context)
    dispatcher.callback_query.outer_middleware(context)
    for router in routers():
        _detach(router)
        dispatcher.include_router(router)
    return dispatcher

"""One process of SellerCloudX: the web API, the bot and the worker, as its role says."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher
from aiohttp import web

from bot.factory import create_bot, create_dispatcher
from core import db
from core.settings import Settings
from core.worker import Worker
from web.app import create_app

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, *, web_role: bool, worker_role: bool) -> None:
        self.settings = settings
        self.web_role = web_role
        self.worker_role = worker_role
        self.all_in_one = web_role and worker_role
        self.runner: web.AppRunner | None = None
        self.worker: Worker | None = None
        self.bot: Bot | None = None
        self.dispatcher: Dispatcher | None = None
        self._polling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.all_in_one:
            await db.migrate(self.settings)
        await db.init_db(self.settings)
        if self.web_role:
            await self._start_web()
        if self.worker_role:
            self.worker = Worker(with_scheduler=True)
            await self.worker.start()
        await self._start_bot()

    async def _start_web(self) -> None:
        app = create_app(self.settings)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        log.info("web listening on %s:%s", self.settings.http_host, self.settings.http_port)

    async def _start_bot(self) -> None:
        if not self.settings.bot_enabled:
            log.info("BOT_TOKEN is not set: the Telegram bot is off")
            return
        self.bot = create_bot(self.settings)
        self.dispatcher = create_dispatcher()
        if self.settings.bot_mode == "polling" and self.all_in_one:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._polling = asyncio.create_task(
                self.dispatcher.start_polling(self.bot, handle_signals=False), name="bot-polling"
            )
            log.info("bot started in polling mode")

    async def stop(self) -> None:
        if self.dispatcher is not None and self._polling is not None:
            with contextlib.suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._polling, 10)
        if self.bot is not None:
            await self.bot.session.close()
        if self.worker is not None:
            await self.worker.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await db.close_db()
        log.info("stopped")

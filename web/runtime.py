"""One process of SellerCloudX: the web API, the bot and the worker, as its role says.

- all (embedded): everything in one process; the bot polls (or, with BOT_MODE=webhook,
  this process both registers and serves the webhook).
- web (scale-out, any number): the REST API, payment callbacks and the Telegram webhook,
  with sessions, FSM and counters in Redis.
- worker (scale-out): the background loops, the scheduler while it holds the Redis lock,
  `setWebhook` at start-up, and a small /health, /ready, /metrics listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher
from aiohttp import web

from bot.factory import create_bot, create_dispatcher
from bot.storage import create_fsm
from core import db
from core import redis as shared_redis
from core.settings import Settings
from core.worker import SchedulerLock, Worker
from web.app import create_app
from web.routes import system, telegram

log = logging.getLogger(__name__)

WEBHOOK_RETRY_MAX = 60.0


class Runtime:
    def __init__(self, settings: Settings, *, web_role: bool, worker_role: bool) -> None:
        self.settings = settings
        self.web_role = web_role
        self.worker_role = worker_role
        self.all_in_one = web_role and worker_role
        self.runner: web.AppRunner | None = None
        self.probe: web.AppRunner | None = None
        self.worker: Worker | None = None
        self.bot: Bot | None = None
        self.dispatcher: Dispatcher | None = None
        self._polling: asyncio.Task[None] | None = None
        self._webhook: asyncio.Task[None] | None = None

    @property
    def webhook_mode(self) -> bool:
        return self.settings.bot_mode == "webhook" or not self.all_in_one

    async def start(self) -> None:
        if self.all_in_one:
            await db.migrate(self.settings)
        await db.init_db(self.settings)
        if self.settings.bot_enabled:
            storage, isolation = create_fsm(self.settings)
            self.bot = create_bot(self.settings)
            self.dispatcher = create_dispatcher(storage, isolation)
        else:
            log.info("BOT_TOKEN is not set: the Telegram bot is off")
        if self.web_role:
            await self._start_web()
        if self.worker_role:
            await self._start_worker()
        self._start_bot()

    async def _start_web(self) -> None:
        settings = self.settings
        app = create_app(settings)
        if self.bot is not None and self.dispatcher is not None and self.webhook_mode:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
            hook = telegram.TelegramWebhook(
                self.bot, self.dispatcher, secret, stale_after=2 * settings.request_timeout
            )
            telegram.setup(app, hook)
        self.runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=settings.request_timeout + 5
        )
        await self.runner.setup()
        site = web.TCPSite(
            self.runner,
            settings.http_host,
            settings.http_port,
            reuse_port=settings.http_reuse_port or None,
        )
        await site.start()
        log.info("web listening on %s:%s", settings.http_host, settings.http_port)

    async def _start_worker(self) -> None:
        settings = self.settings
        lock = None
        if settings.redis_url:
            lock = SchedulerLock(
                shared_redis.get_redis(settings),
                shared_redis.key(settings, "scheduler", "lock"),
                settings.scheduler_lock_ttl,
            )
        self.worker = Worker(with_scheduler=True, lock=lock)
        await self.worker.start()
        if not self.web_role and settings.metrics_port:
            self.probe = web.AppRunner(system.create_probe_app(settings), access_log=None)
            await self.probe.setup()
            await web.TCPSite(self.probe, settings.http_host, settings.metrics_port).start()
            log.info("worker probe listening on %s:%s", settings.http_host, settings.metrics_port)

    def _start_bot(self) -> None:
        if self.bot is None or self.dispatcher is None:
            return
        if self.webhook_mode:
            if self.worker_role:
                self._webhook = asyncio.create_task(self._set_webhook(), name="set-webhook")
            log.info("bot in webhook mode")
            return
        self._polling = asyncio.create_task(self._poll(self.bot, self.dispatcher), name="polling")
        log.info("bot started in polling mode")

    async def _poll(self, bot: Bot, dispatcher: Dispatcher) -> None:
        await bot.delete_webhook(drop_pending_updates=False)
        await dispatcher.start_polling(bot, handle_signals=False)

    async def _set_webhook(self) -> None:
        """Register the webhook; Telegram unreachable at start-up is retried, not fatal."""
        assert self.bot is not None and self.dispatcher is not None
        settings = self.settings
        url = telegram.webhook_url(settings)
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        delay = 1.0
        while True:
            try:
                await self.bot.set_webhook(
                    url,
                    secret_token=secret,
                    allowed_updates=self.dispatcher.resolve_used_update_types(),
                    drop_pending_updates=False,
                )
            except Exception as exc:
                log.warning("setWebhook failed, retrying in %ss error=%s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, WEBHOOK_RETRY_MAX)
                continue
            log.info("webhook set url=%s", url)
            return

    async def stop(self) -> None:
        if self._webhook is not None:
            self._webhook.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook
        if self.dispatcher is not None and self._polling is not None:
            with contextlib.suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._polling, 10)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.worker is not None:
            await self.worker.stop()
        if self.probe is not None:
            await self.probe.cleanup()
        if self.bot is not None:
            await self.bot.session.close()
        await db.close_db()
        await shared_redis.close_redis()
        log.info("stopped")

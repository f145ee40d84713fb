"""A delivery worker as its own process, for the kill -9 test: settings come from the
environment (DATABASE_URL, BOT_TOKEN, TELEGRAM_API_URL, ...), it runs until killed."""

from __future__ import annotations

import asyncio
import logging

from core import db
from core.services.delivery import DeliveryWorker
from core.settings import Settings


async def main() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    await db.init_db(settings)
    print("worker ready", flush=True)
    await DeliveryWorker(settings).run(asyncio.Event())


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())

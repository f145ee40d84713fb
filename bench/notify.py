"""Notification delivery benchmark: 2,000 Telegram messages to 2,000 chats.

    .venv/bin/python bench/notify.py [--messages 2000] [--scale 5]

The messages go through the real outbox and delivery worker to the fake Bot API server
(`tests/fakes/telegram.py`, in its own process), whose limits (30 messages a second
overall, one a second per chat) are scaled up by `--scale`: with the default 5 the cap is
150 messages a second, any 30 in 0.2 s. The worker is told the same factor
(DELIVERY_TIME_SCALE). Prints the rate achieved against the cap (over the send requests,
first to last, as the server saw them), the 429s received and the messages lost or sent
twice. Target: at least 90% of the cap, no 429, none lost, none twice.

The worker keeps the hard limit by holding each of the 30 window permits from the send
until its answer plus the window: the rate is 30 / (window + round trip), so a larger
factor (a shorter window) counts the round trip and the Python overhead for more.

The database is a fresh SQLite file, or PostgreSQL when DATABASE_URL is set (a database is
created and dropped); REDIS_URL, when set, makes the worker pace through Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from pydantic import SecretStr

from core import db
from core import redis as shared_redis
from core.models import Channel, DeliveryState, MessageType, Notification, Seller
from core.services import outbox
from core.services.delivery import DeliveryWorker
from core.services.outbox import Outgoing
from core.settings import Settings, use_settings
from tests.fakes.telegram import FakeTelegramServer

TOKEN = "123456:BENCH-notify-token"
CAP = 30  # Telegram's messages per second


@dataclass
class Seen:
    """What the fake Bot API server saw."""

    accepted: list[tuple[int, float]]  # (chat_id, time) of each accepted send
    attempts: list[float]  # time of every sendMessage request
    rate_limited: int
    peak: int


def _serve(pipe: Connection, scale: float) -> None:
    """The fake server in its own process: its CPU is not the worker's."""

    async def run() -> None:
        async with FakeTelegramServer(token=TOKEN, scale=scale) as server:
            pipe.send(server.base_url)
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            pipe.send(
                Seen(
                    accepted=[(m.chat_id, 0.0) for m in server.sent_messages],
                    attempts=[r.time for r in server.requests if r.api_method == "sendMessage"],
                    rate_limited=server.stats.rate_limited,
                    peak=server.stats.max_rate,
                )
            )

    asyncio.run(run())


async def _postgres(url: str) -> tuple[str, str]:
    base = url.rpartition("/")[0]
    name = f"scx_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1) + "/postgres")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return base + "/" + name, name


async def _drop(url: str, name: str) -> None:
    base = url.rpartition("/")[0].replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(base + "/postgres")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def _enqueue(count: int) -> None:
    seller = await Seller.create(
        username="bench", full_name="Bench", referral_code=secrets.token_hex(4).upper()
    )
    items = [
        Outgoing(
            channel=Channel.TELEGRAM,
            recipient=str(1_000_000 + n),
            type=MessageType.MARKETING,
            text=f"Offer {n}: 10% off everything this week.",
            priority=outbox.PRIORITY_BULK,
        )
        for n in range(count)
    ]
    await outbox.enqueue(seller.id, items, fetch=False)


async def _run(settings: Settings) -> float:
    """Deliver the outbox; seconds until no row is queued or sending."""
    worker = DeliveryWorker(settings)
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(worker.run(stop))
    pending = Notification.filter(state__in=[DeliveryState.QUEUED, DeliveryState.SENDING])
    try:
        while time.monotonic() - started < 600 and not task.done():
            if not await pending.exists():
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    return time.monotonic() - started


def _report(seen: Seen, scale: float, count: int, wall: float, states: Counter[str]) -> bool:
    cap = CAP * scale
    attempts = sorted(seen.attempts)
    span = attempts[-1] - attempts[0] if len(attempts) > 1 else 0.0
    rate = (len(attempts) - 1) / span if span else float("nan")
    per_chat = Counter(chat for chat, _ in seen.accepted)
    twice = sum(1 for n in per_chat.values() if n > 1)
    lost = count - len(per_chat)
    print(f"scale factor        : {scale:g} (cap {CAP}/s x {scale:g} = {cap:g} messages/s)")
    print(f"messages            : {count} to {count} chats")
    print(f"rate achieved       : {rate:.1f} messages/s = {rate / cap:.1%} of the cap")
    print(f"end to end          : {wall:.2f} s from worker start ({count / wall:.1f}/s)")
    print(f"peak in any second  : {seen.peak} accepted (wall clock, unscaled)")
    print(f"429s received       : {seen.rate_limited}")
    print(f"lost                : {lost}")
    print(f"sent twice          : {twice}")
    print(f"outbox states       : {dict(states)}")
    ok = rate >= 0.9 * cap and seen.rate_limited == 0 and lost == 0 and twice == 0
    print("result              : " + ("PASS" if ok else "FAIL"))
    return ok


async def main(count: int, scale: float, base_url: str, pipe: Connection) -> bool:
    database_url = os.environ.get("DATABASE_URL", "").strip()
    pg_name = None
    with tempfile.TemporaryDirectory() as tmp:
        if database_url.startswith("postgres"):
            url, pg_name = await _postgres(database_url)
        else:
            url = f"sqlite://{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            redis_url=os.environ.get("REDIS_URL") or None,
            redis_prefix=f"scx_bench_{uuid.uuid4().hex[:6]}:",
            bot_token=SecretStr(TOKEN),
            telegram_api_url=base_url,
            delivery_time_scale=scale,
            notification_poll_interval=0.05,
        )
        use_settings(settings)
        await db.migrate(settings)
        await db.init_db(settings)
        try:
            await _enqueue(count)
            wall = await _run(settings)
            rows = await Notification.all().values_list("state", flat=True)
            pipe.send("stop")
            seen: Seen = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
            return _report(seen, scale, count, wall, Counter(str(s) for s in rows))
        finally:
            await db.close_db()
            await shared_redis.close_redis()
            if pg_name:
                with contextlib.suppress(Exception):
                    await _drop(database_url, pg_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--scale", type=float, default=5.0, help="speed-up of the fake's limits")
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(theirs, args.scale), daemon=True)
    server.start()
    try:
        passed = asyncio.run(main(args.messages, args.scale, ours.recv(), ours))
    finally:
        server.terminate()
    sys.exit(0 if passed else 1)

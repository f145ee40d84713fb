"""SellerCloudX entry point.

python main.py                 all-in-one: web API, bot, scheduler and workers (SQLite ok)
python main.py web             one web process (scale-out: PostgreSQL + Redis)
python main.py worker          the scheduler and background workers (scale-out)
python main.py migrate         apply database migrations
python main.py user create USERNAME --password P [--plan TIER] [--admin]
python main.py demo            a demo seller with a realistic history
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from core import db
from core.logs import setup_logging
from core.settings import Settings, get_settings

log = logging.getLogger("sellercloudx")


def _makemigrations(*, fresh: bool) -> None:
    import subprocess
    from pathlib import Path

    if fresh:
        # Only while nothing is deployed: history is folded into one initial migration.
        for path in Path("core/migrations").glob("0*.py"):
            path.unlink()
    Path("data/makemigrations.sqlite3").unlink(missing_ok=True)
    tortoise = Path(sys.executable).with_name("tortoise")
    subprocess.run(
        [str(tortoise), "-c", "core.migrations_config.TORTOISE_ORM", "makemigrations"], check=True
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="SellerCloudX")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("all", help="web, bot and worker in one process (the default)")
    sub.add_parser("web", help="one web process")
    sub.add_parser("worker", help="scheduler and background workers")
    sub.add_parser("migrate", help="apply migrations")
    mk = sub.add_parser("makemigrations", help="(development) write a migration for model changes")
    mk.add_argument(
        "--fresh", action="store_true", help="drop every migration file and write one 0001_initial"
    )
    demo = sub.add_parser("demo", help="create the demo seller")
    demo.add_argument("--username", default="demo")
    demo.add_argument("--password", default="demo12345")
    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser("create", help="create a seller")
    create.add_argument("username")
    create.add_argument("--password", required=True)
    create.add_argument("--plan", default="free")
    create.add_argument("--admin", action="store_true")
    return parser


async def _migrate(settings: Settings) -> None:
    try:
        await db.migrate(settings)
    finally:
        # aiosqlite's connection thread keeps the process alive until the connection closes.
        await db.close_db()


async def _with_db(settings: Settings, body: Callable[[], Awaitable[None]]) -> None:
    await db.migrate(settings)
    await db.init_db(settings)
    try:
        await body()
    finally:
        await db.close_db()


async def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from core.errors import AppError, ValidationFailed
    from core.plans import get_plan
    from core.schemas import RegisterIn
    from core.services import accounts
    from core.validation import validate

    async def body() -> None:
        seller = await accounts.register(data)
        seller.plan, seller.is_admin = plan.tier, args.admin
        await seller.save(update_fields=["plan", "is_admin"])
        print(f"created seller id={seller.id} username={seller.username} plan={plan.tier}")

    try:
        plan = get_plan(args.plan)
        data = validate(RegisterIn, {"username": args.username, "password": args.password})
        await _with_db(settings, body)
    except AppError as exc:
        where = f"{exc.field}: " if isinstance(exc, ValidationFailed) else ""
        print(f"error: {where}{exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


async def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from core.services.demo import create_demo

    async def body() -> None:
        seller = await create_demo(args.username, args.password)
        from core.models import Order

        count = await Order.filter(seller=seller).count()
        print(f"demo seller '{seller.username}' / '{args.password}': {count} orders")

    await _with_db(settings, body)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(settings: Settings, *, web_role: bool, worker_role: bool) -> None:
    """Run the chosen roles in this process until SIGINT or SIGTERM."""
    from web.runtime import Runtime

    runtime = Runtime(settings, web_role=web_role, worker_role=worker_role)
    await runtime.start()
    try:
        await _wait_for_signal()
    finally:
        await runtime.stop()


_WEBHOOK_SECRET_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def role_problems(settings: Settings, command: str) -> list[str]:
    """Why this configuration cannot run `command` (empty when it can)."""
    problems: list[str] = []
    scale_out = command in {"web", "worker"}
    if scale_out and settings.is_sqlite:
        problems.append(
            "`web` and `worker` are the scale-out roles: they share state through PostgreSQL "
            "and Redis, and SQLite is for one process. Set DATABASE_URL=postgres://... and "
            "REDIS_URL=redis://..., or run `python main.py` alone: one process serves everything."
        )
    elif scale_out and not settings.redis_url:
        problems.append(
            "`web` and `worker` need REDIS_URL=redis://... for sessions, bot state, rate "
            "limits and the scheduler lock shared between processes."
        )
    if command in {"all", "web", "worker"} and settings.bot_enabled:
        webhook = scale_out or settings.bot_mode == "webhook"
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        if scale_out and settings.bot_mode != "webhook":
            problems.append(
                "with several processes the bot runs by webhook: set BOT_MODE=webhook, "
                "WEBHOOK_SECRET and PUBLIC_URL (https), or unset BOT_TOKEN."
            )
        elif webhook and not (1 <= len(secret) <= 256 and set(secret) <= _WEBHOOK_SECRET_CHARS):
            problems.append(
                "BOT_MODE=webhook needs WEBHOOK_SECRET: 1 to 256 characters of A-Z, a-z, 0-9, "
                "_ and - (Telegram sends it back in every webhook request)."
            )
    return problems


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level, settings.log_format)
    command = args.command or "all"
    problems = role_problems(settings, command)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    if command == "migrate":
        asyncio.run(_migrate(settings))
    elif command == "makemigrations":
        _makemigrations(fresh=args.fresh)
    elif command == "user":
        asyncio.run(_create_user(settings, args))
    elif command == "demo":
        asyncio.run(_demo(settings, args))
    else:
        roles = {"all": (True, True), "web": (True, False), "worker": (False, True)}[command]
        asyncio.run(serve(settings, web_role=roles[0], worker_role=roles[1]))


if __name__ == "__main__":
    main()

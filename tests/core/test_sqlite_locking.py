"""SQLite shared by two processes (the CLI while the server runs): WAL, a busy timeout and
write transactions that take the write lock at once, so the second writer waits instead of
failing with "database is locked"."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core import db
from core.models import Product, Seller
from core.schemas import ProductIn, RegisterIn
from core.services import accounts, products
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Long enough for a second interpreter to start and reach its write; short of the busy timeout.
HOLD_SECONDS = 4.0

# Reads, then writes in one transaction: with a deferred BEGIN this upgrade is what fails at
# once under a concurrent writer, whatever the busy timeout.
WRITER_SCRIPT = """
import asyncio, sys, time
from core import db
from core.models import Seller
from core.settings import Settings

async def main() -> None:
    await db.init_db(Settings(_env_file=None, database_url=sys.argv[1]))
    await db.connection().execute_query("SELECT 1")
    print("ready", flush=True)
    sys.stdin.readline()  # "go": the server now holds the write lock
    started = time.monotonic()
    async with db.atomic() as conn:
        await Seller.all().using_db(conn).count()
        await Seller.filter(username="alice").using_db(conn).update(full_name="From the CLI")
    print(f"done {time.monotonic() - started:.2f}", flush=True)
    await db.close_db()

asyncio.run(main())
"""

# Holds the write lock through the app's own engine until told to let go.
HOLDER_SCRIPT = """
import asyncio, sys
from core import db
from core.models import Seller
from core.settings import Settings

async def main() -> None:
    await db.init_db(Settings(_env_file=None, database_url=sys.argv[1]))
    async with db.atomic() as conn:
        await Seller.filter(username="alice").using_db(conn).update(full_name="Held")
        print("locked", flush=True)
        await asyncio.sleep(float(sys.argv[2]))
    print("released", flush=True)
    await db.close_db()

asyncio.run(main())
"""


@pytest.fixture
def sqlite_settings(settings: Settings) -> Settings:
    if not settings.is_sqlite:
        pytest.skip("SQLite locking: PostgreSQL has row locks and no file lock")
    return settings


@pytest.fixture
async def seller_id(sqlite_settings: Settings, database: None) -> AsyncIterator[int]:
    seller = await accounts.register(RegisterIn(username="alice", password="long-password"))
    yield seller.id


def db_path(settings: Settings) -> str:
    return settings.database_url.split("://", 1)[1]


def child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "BOT_TOKEN"}}
    env["DATABASE_URL"] = settings.database_url
    env["PYTHONPATH"] = str(ROOT)
    return env


async def spawn(settings: Settings, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=child_env(settings),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_line(process: asyncio.subprocess.Process, timeout: float = 30) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    if not line:
        assert process.stderr is not None
        raise AssertionError((await process.stderr.read()).decode())
    return line.decode().strip()


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_wal_and_busy_timeout_are_on(sqlite_settings: Settings, database: None) -> None:
    conn = db.connection()
    journal = await conn.execute_query_dict("PRAGMA journal_mode")
    timeout = await conn.execute_query_dict("PRAGMA busy_timeout")

    assert journal == [{"journal_mode": "wal"}]
    assert int(next(iter(timeout[0].values()))) >= 5000


async def test_a_transaction_takes_the_write_lock_at_once(
    sqlite_settings: Settings, seller_id: int
) -> None:
    other = sqlite3.connect(db_path(sqlite_settings), timeout=0, isolation_level=None)
    try:
        async with db.atomic():
            # Nothing written yet, and still no other writer may start.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_second_process_waits_for_the_servers_write_transaction(
    sqlite_settings: Settings, seller_id: int
) -> None:
    settings = sqlite_settings
    writer = await spawn(settings, "-c", WRITER_SCRIPT, settings.database_url)
    assert await read_line(writer) == "ready"

    async with db.atomic() as conn:
        await Seller.filter(id=seller_id).using_db(conn).update(full_name="From the server")
        assert writer.stdin is not None
        writer.stdin.write(b"go\n")
        await writer.stdin.drain()
        await asyncio.sleep(1.5)
        assert writer.returncode is None  # still waiting for the lock, not failed

    code, out, err = await finish(writer)
    assert code == 0, err
    assert "database is locked" not in err
    assert float(out.split()[-1]) >= 1.0
    assert (await Seller.get(id=seller_id)).full_name == "From the CLI"


async def test_the_cli_creates_a_user_while_the_server_writes(
    sqlite_settings: Settings, seller_id: int
) -> None:
    settings = sqlite_settings
    cli = await spawn(
        settings, "main.py", "user", "create", "carol", "--password", "long-password"
    )

    async with db.atomic() as conn:
        await Seller.filter(id=seller_id).using_db(conn).update(full_name="Busy server")
        # The CLI needs a write, so it cannot finish while this transaction is open.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(cli.wait(), HOLD_SECONDS)

    code, out, err = await finish(cli)
    assert code == 0, err
    assert "created seller" in out
    assert await Seller.filter(username="carol").exists()


async def test_the_server_waits_for_a_second_process_write_transaction(
    sqlite_settings: Settings, seller_id: int
) -> None:
    settings = sqlite_settings
    holder = await spawn(settings, "-c", HOLDER_SCRIPT, settings.database_url, "1.5")
    assert await read_line(holder) == "locked"

    started = time.monotonic()
    product = await products.create(seller_id, ProductIn(name="Tea", sku="TEA", price=1))
    waited = time.monotonic() - started

    code, _, err = await finish(holder)
    assert code == 0, err
    assert waited >= 0.5
    assert await Product.filter(id=product.id).exists()
    assert (await Seller.get(id=seller_id)).full_name == "Held"

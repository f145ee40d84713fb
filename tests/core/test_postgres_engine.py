"""The PostgreSQL backend across cut connections (what a server restart does)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from tortoise.transactions import in_transaction

from core import db
from core.models import Seller
from core.postgres_engine import connection_lost, is_read
from core.schemas import RegisterIn
from core.services import accounts
from core.settings import Settings
from tests.scale.cluster import terminate_connections

needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only"
)


@pytest.fixture
async def small_pool(database: None, settings: Settings) -> AsyncIterator[Settings]:
    """The database with a pool of two connections, both opened."""
    await db.close_db()
    small = settings.model_copy(update={"db_pool_size": 2})
    await db.init_db(small)
    await accounts.register(RegisterIn(username="pooled", password="long-password"))
    yield small


def free_connections() -> int:
    pool = db.connection()._pool  # type: ignore[attr-defined]
    return int(pool._queue.qsize())


@pytest.mark.parametrize(
    ("query", "read"),
    [("SELECT 1", True), ("  select * from x", True), ("UPDATE x SET y = 1", False),
     ("INSERT INTO x VALUES (1)", False), ("WITH d AS (DELETE FROM x) SELECT 1", False)],
)  # fmt: skip
def test_only_plain_reads_are_retried(query: str, read: bool) -> None:
    assert is_read(query) is read


def test_what_counts_as_a_lost_connection() -> None:
    import asyncpg.exceptions

    assert connection_lost(asyncpg.exceptions.AdminShutdownError("terminating"))
    assert connection_lost(asyncpg.exceptions.InterfaceError("connection is closed"))
    assert connection_lost(ConnectionRefusedError())
    assert not connection_lost(asyncpg.exceptions.QueryCanceledError("statement timeout"))
    assert not connection_lost(asyncpg.exceptions.UniqueViolationError("duplicate"))


@needs_postgres
async def test_cut_connections_are_replaced_for_reads_and_transactions(
    small_pool: Settings,
) -> None:
    for _ in range(3):
        assert await terminate_connections(small_pool.database_url) >= 1
        for attempt in range(4):
            assert await Seller.filter(username="pooled").count() == 1
            async with in_transaction("default") as conn:
                await (
                    Seller.filter(username="pooled")
                    .using_db(conn)
                    .update(full_name=f"try {attempt}")
                )
    # Every connection is back in the pool: none was kept by a failed BEGIN.
    assert free_connections() == 2
    assert (await Seller.get(username="pooled")).full_name == "try 3"

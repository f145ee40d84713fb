"""Tortoise's asyncpg backend, made to ride out a PostgreSQL restart.

When the server restarts (or an administrator ends backends), every pooled connection is
cut, but asyncpg may hand one out before it has seen the socket close; the first query on
it then fails. A plain read outside a transaction is safe to run again, so it is retried,
briefly, on a fresh connection. Writes and anything inside a transaction are never
retried: their failure reaches the caller (503), and the transaction has rolled back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg.exceptions
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.exceptions import DBConnectionError

log = logging.getLogger(__name__)

T = TypeVar("T")
# Attempts after the first, and the pause before each: about half a second in all.
RETRY_DELAYS = (0.02, 0.1, 0.3)

_LOST = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InternalClientError,
    DBConnectionError,
    ConnectionError,
)


def connection_lost(exc: BaseException) -> bool:
    """The connection died under the query (not: the query failed, or was cancelled)."""
    if isinstance(exc, _LOST):
        return True
    return isinstance(exc, asyncpg.exceptions.InterfaceError) and "closed" in str(exc)


def is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class RetryingAsyncpgClient(AsyncpgDBClient):
    async def _retry_reads(self, query: str, run: Callable[[], Awaitable[T]]) -> T:
        for delay in RETRY_DELAYS:
            try:
                return await run()
            except Exception as exc:
                if not (is_read(query) and connection_lost(exc)):
                    raise
                log.warning("database connection lost, retrying a read error=%s", exc)
            await asyncio.sleep(delay)
        return await run()

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        parent = super().execute_query
        return await self._retry_reads(query, lambda: parent(query, values))

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> Any:
        parent = super().execute_query_dict
        return await self._retry_reads(query, lambda: parent(query, values))


client_class = RetryingAsyncpgClient

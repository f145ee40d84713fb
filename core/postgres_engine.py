"""Tortoise's asyncpg backend, made to ride out a PostgreSQL restart.

When the server restarts (or an administrator ends backends), every pooled connection is
cut, but asyncpg may hand one out before it has seen the socket close; the first query on
it then fails. What is safe to run again is retried, for a few seconds (a restart's
length), on a fresh connection:

- a plain read outside a transaction;
- the BEGIN of a transaction (nothing has happened yet). Tortoise would also keep the
  connection of a failed BEGIN out of the pool for good; here it goes back.

Writes and anything inside a transaction are never retried: their failure reaches the
caller (503), and the transaction has rolled back. The request deadline bounds it all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg.exceptions
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    TransactionalDBClient,
    TransactionContext,
    TransactionContextPooled,
)
from tortoise.connection import get_connections
from tortoise.exceptions import DBConnectionError

log = logging.getLogger(__name__)

T = TypeVar("T")
# The pause before each attempt after the first: about five seconds in all.
RETRY_DELAYS = (0.02, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0)

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


class RetryingTransactionContext(TransactionContextPooled):
    async def __aenter__(self) -> TransactionalDBClient:
        wrapper = cast(TransactionWrapper, self.client)
        for delay in (*RETRY_DELAYS, None):
            await self.ensure_connection()
            pool = wrapper._parent._pool
            assert pool is not None
            connection = await pool.acquire()
            wrapper._connection = connection
            try:
                await wrapper.begin()
            except BaseException as exc:
                # Back to the pool, whatever happened (cancellation included).
                await asyncio.shield(pool.release(connection))
                if delay is None or not connection_lost(exc):
                    raise
                log.warning("database connection lost, retrying BEGIN error=%s", exc)
                await asyncio.sleep(delay)
                continue
            self.token = get_connections().set(self.connection_name, wrapper)
            return wrapper
        raise AssertionError("unreachable")


class RetryingAsyncpgClient(AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return RetryingTransactionContext(TransactionWrapper(self), self._pool_init_lock)

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

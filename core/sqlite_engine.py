"""Tortoise's SQLite backend, made safe for a second process on the same file.

Tortoise opens write transactions with a plain `BEGIN`, which takes the write lock only at the
first write; two processes then deadlock on the upgrade and one gets "database is locked" at
once, whatever the busy timeout. `BEGIN IMMEDIATE` takes the lock up front, so the busy
timeout applies and the second writer simply waits.

Timestamps are decoded by the driver: tortoise otherwise parses every `TIMESTAMP` text with
the pure-Python iso8601 package, which was about 40% of the cost of loading a page of rows.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


def _timestamp(raw: bytes) -> datetime | str:
    """A `TIMESTAMP` column as a datetime, parsed in C; odd text is left to tortoise."""
    text = raw.decode()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


# Applies only to connections opened with PARSE_DECLTYPES, that is to this engine's.
sqlite3.register_converter("TIMESTAMP", _timestamp)


def _casefold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        kwargs.setdefault("busy_timeout", 15000)
        kwargs.setdefault("synchronous", "NORMAL")
        super().__init__(file_path, **kwargs)

    async def create_connection(self, with_db: bool) -> None:
        if self._connection is not None:
            return
        # As tortoise opens it, plus PARSE_DECLTYPES so that `_timestamp` decodes timestamps.
        self._connection = await aiosqlite.connect(
            self.filename, isolation_level=None, detect_types=sqlite3.PARSE_DECLTYPES
        )
        self._connection._conn.row_factory = sqlite3.Row
        # Case-insensitive search in every script (SQLite's own LOWER and LIKE fold ASCII only).
        await self._connection.create_function("casefold", 1, _casefold, deterministic=True)
        for pragma, value in self.pragmas.items():
            await (await self._connection.execute(f"PRAGMA {pragma}={value}")).close()
        await self._post_connect()

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    return ImmediateSqliteClient

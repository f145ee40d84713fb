"""Database set-up: tortoise configuration, start-up, migrations and transactions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

APP = "models"
MIGRATIONS_MODULE = "core.migrations"
# pg_advisory_lock key that serialises migrations ("scx" + 1).
MIGRATION_LOCK_ID = 0x736378_01

M = TypeVar("M", bound=Model)


def _sqlite_connection(url: str) -> dict[str, Any]:
    path = url.split("://", 1)[1]
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {"engine": "core.sqlite_engine", "credentials": {"file_path": path}}


def _postgres_connection(url: str, settings: Settings) -> dict[str, Any]:
    parts = urlsplit(url)
    # No statement outlives a request: the web layer answers 503 at request_timeout.
    timeout = max(1.0, settings.request_timeout)
    return {
        "engine": "core.postgres_engine",
        "credentials": {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": parts.username or "postgres",
            "password": parts.password or "",
            "database": parts.path.lstrip("/") or "postgres",
            "minsize": 1,
            "maxsize": settings.db_pool_size,
            "command_timeout": timeout,
            # Connecting to a restarting server gives up instead of hanging.
            "timeout": min(10.0, timeout),
            # Idle connections are recycled, so none lingers half-dead after a restart.
            "max_inactive_connection_lifetime": 300,
            "reset": keep_session_state,
        },
    }


async def keep_session_state(connection: asyncpg.Connection) -> None:
    """Return a pooled connection without asyncpg's `RESET ALL; UNLISTEN *; ...` round trip.

    Tortoise takes a pooled connection for every single query, so the default reset doubled
    the round trips of each request. Nothing here keeps session state on a pooled connection
    (no SET, LISTEN, cursors or session advisory locks); an open transaction is still rolled
    back by asyncpg before this is called.
    """


def tortoise_config(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    url = settings.database_url
    if url.startswith("sqlite"):
        connection = _sqlite_connection(url)
    elif url.startswith("postgres"):
        connection = _postgres_connection(url, settings)
    else:
        raise ValueError("DATABASE_URL must start with sqlite:// or postgres://")
    return {
        "connections": {"default": connection},
        "apps": {
            APP: {
                "models": ["core.models"],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(settings: Settings | None = None) -> None:
    """Open the connections (lazily) and register the models."""
    await Tortoise.init(config=tortoise_config(settings))


async def close_db() -> None:
    await connections.close_all()


async def migrate(settings: Settings | None = None) -> None:
    """Apply every committed migration that the database has not seen yet.

    On PostgreSQL a session advisory lock makes processes that start together take turns:
    one migrates, the others then find nothing left to do.
    """
    settings = settings or get_settings()
    config = tortoise_config(settings)
    if settings.is_sqlite:
        await tortoise_migrate(config=config)
    else:
        lock = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
            await tortoise_migrate(config=config)
        finally:
            await lock.close()
    log.info("migrations applied")


def claimable(queryset: QuerySet[M]) -> QuerySet[M]:
    """Queue rows for this worker to take, inside a transaction.

    On PostgreSQL the rows are locked and rows locked by another worker are skipped, so
    several workers share a queue without taking the same job; SQLite has one writer.
    """
    if is_postgres():
        return queryset.select_for_update(skip_locked=True)
    return queryset


def connection() -> BaseDBAsyncClient:
    return connections.get("default")


def atomic() -> Any:
    """A write transaction: on SQLite it takes the write lock at once (BEGIN IMMEDIATE)."""
    return in_transaction("default")


async def ping() -> bool:
    try:
        await connection().execute_query("SELECT 1")
    except Exception:
        log.warning("database ping failed", exc_info=True)
        return False
    return True


def sql(statement: str) -> str:
    """A `?`-placeholder statement in the connection's style (`$1, $2...` on PostgreSQL)."""
    if not is_postgres():
        return statement
    parts = statement.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


def is_postgres() -> bool:
    return connection().capabilities.dialect == "postgres"

"""Database set-up: tortoise configuration, start-up, migrations and transactions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.transactions import in_transaction

from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

APP = "models"
MIGRATIONS_MODULE = "core.migrations"


def _sqlite_connection(url: str) -> dict[str, Any]:
    path = url.split("://", 1)[1]
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {"engine": "core.sqlite_engine", "credentials": {"file_path": path}}


def _postgres_connection(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "engine": "tortoise.backends.asyncpg",
        "credentials": {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": parts.username or "postgres",
            "password": parts.password or "",
            "database": parts.path.lstrip("/") or "postgres",
            "minsize": 1,
            "maxsize": 10,
            "command_timeout": 30,
        },
    }


def tortoise_config(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    url = settings.database_url
    if url.startswith("sqlite"):
        connection = _sqlite_connection(url)
    elif url.startswith("postgres"):
        connection = _postgres_connection(url)
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
    """Apply every committed migration that the database has not seen yet."""
    await tortoise_migrate(config=tortoise_config(settings))
    log.info("migrations applied")


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


def is_postgres() -> bool:
    return connection().capabilities.dialect == "postgres"

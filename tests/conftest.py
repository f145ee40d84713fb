"""Test fixtures: a migrated database per run (SQLite file or a fresh PostgreSQL database),
clean tables per test, the web app through aiohttp's in-process client, and the bot.

`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pytest` runs the same suite on
PostgreSQL: a database named `scx_test_<pid>` is created, migrated, and dropped at the end.
`REDIS_URL` likewise points the Redis-backed parts at a real server (a per-run key prefix).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from tortoise import Tortoise

from core import db
from core.redis import close_redis
from core.settings import Settings, use_settings
from web.app import create_app

TABLES_KEEP = {"tortoise_migrations"}


def _base_url() -> str:
    return os.environ.get("DATABASE_URL", "").strip() or "sqlite"


def _pg_admin_dsn(url: str) -> tuple[str, str]:
    base, _, _name = url.rpartition("/")
    return base.replace("postgres://", "postgresql://", 1), base


async def _pg_create(url: str, name: str) -> None:
    dsn, _ = _pg_admin_dsn(url)
    conn = await asyncpg.connect(dsn + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _pg_drop(url: str, name: str) -> None:
    dsn, _ = _pg_admin_dsn(url)
    conn = await asyncpg.connect(dsn + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole run; yields its URL."""
    base = _base_url()
    if base.startswith("postgres"):
        name = f"scx_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = base.rpartition("/")[0] + "/" + name
        asyncio.run(_pg_create(base, name))
        asyncio.run(_migrate(url))
        yield url
        asyncio.run(_pg_drop(base, name))
    else:
        path = tmp_path_factory.mktemp("db") / "template.sqlite3"
        url = f"sqlite://{path}"
        asyncio.run(_migrate(url))
        yield url


async def _migrate(url: str) -> None:
    await db.migrate(Settings(database_url=url))
    await Tortoise.close_connections()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if database_template.startswith("sqlite"):
        source = Path(database_template.split("://", 1)[1])
        target = tmp_path / "test.sqlite3"
        shutil.copyfile(source, target)
        return f"sqlite://{target}"
    return database_template


def _redis_url() -> str | None:
    return os.environ.get("REDIS_URL", "").strip() or None


def _drop_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards (with REDIS_URL)."""
    prefix = f"scx_test_{os.getpid()}_{uuid.uuid4().hex[:8]}:"
    yield prefix
    url = _redis_url()
    if url:
        _drop_redis_keys(url, prefix)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, redis_prefix: str) -> Iterator[Settings]:
    value = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=_redis_url(),
        redis_prefix=redis_prefix,
        rate_limit_prefix=redis_prefix + "limits",
        secret_key="test-secret",
        media_dir=tmp_path / "media",
        public_url="http://127.0.0.1:8080",
        log_level="DEBUG",
    )
    use_settings(value)
    yield value
    use_settings(None)


async def _truncate() -> None:
    conn = db.connection()
    if db.is_postgres():
        rows = await conn.execute_query_dict(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        tables = [r["tablename"] for r in rows if r["tablename"] not in TABLES_KEEP]
        if tables:
            quoted = ", ".join(f'"{t}"' for t in tables)
            await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[None]:
    """An initialised, empty database for one test."""
    await db.init_db(settings)
    await _truncate()
    yield
    await db.close_db()
    await close_redis()


def browser_headers(settings: Settings) -> dict[str, str]:
    """What a browser on the app's own site sends: its Origin (state changes need it)."""
    return {"Origin": settings.public_url}


@pytest.fixture
async def client(
    database: None, settings: Settings, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> TestClient:
    return await aiohttp_client(create_app(settings), headers=browser_headers(settings))


@pytest.fixture
def make_client(
    database: None, settings: Settings, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> Callable[..., Awaitable[TestClient]]:
    """Another client of the same app settings (its own cookie jar): a second seller."""

    async def build(**kwargs: Any) -> TestClient:
        return await aiohttp_client(
            create_app(settings, **kwargs), headers=browser_headers(settings)
        )

    return build


async def register(
    client: TestClient, username: str = "alice", password: str = "secret-pass-1", **extra: Any
) -> dict[str, Any]:
    """Register (and so log in) a seller through the API; returns the answer's data."""
    response = await client.post(
        "/api/register", json={"username": username, "password": password, **extra}
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    return body["data"]


@pytest.fixture
async def seller_client(client: TestClient) -> TestClient:
    await register(client)
    return client

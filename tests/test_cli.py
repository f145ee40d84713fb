"""`python main.py ...` as an operator runs it: a real process on a temporary SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.sqlite3"


@pytest.fixture
def cli(db_file: Path) -> Cli:
    """Run main.py with DATABASE_URL on a file of this test (always SQLite, also in CI)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "BOT_TOKEN", "BOT_MODE", "DATABASE_URL"}
    }
    env |= {"DATABASE_URL": f"sqlite://{db_file}", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO"}

    def run(*args: str, timeout: float = 120) -> Result:
        done = subprocess.run(
            [sys.executable, "main.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


def query(db_file: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_file)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_migrate_creates_the_schema_and_is_idempotent(cli: Cli, db_file: Path) -> None:
    first = cli("migrate")
    second = cli("migrate")

    assert first.code == 0, first.err
    assert second.code == 0, second.err
    tables = {row[0] for row in query(db_file, "SELECT name FROM sqlite_master")}
    assert {"sellers", "products", "orders", "order_items", "order_events"} <= tables
    assert query(db_file, "PRAGMA journal_mode") == [("wal",)]


def test_user_create(cli: Cli, db_file: Path) -> None:
    result = cli("user", "create", "Alice", "--password", "long-password")

    assert result.code == 0, result.err
    assert "created seller" in result.out and "username=alice" in result.out
    assert query(db_file, "SELECT username, plan, is_admin FROM sellers") == [("alice", "free", 0)]


def test_user_create_with_plan_and_admin(cli: Cli, db_file: Path) -> None:
    result = cli(
        "user", "create", "boss", "--password", "long-password", "--plan", "premium", "--admin"
    )

    assert result.code == 0, result.err
    assert query(db_file, "SELECT plan, is_admin FROM sellers") == [("premium", 1)]


def test_duplicate_user_is_a_clear_error(cli: Cli, db_file: Path) -> None:
    assert cli("user", "create", "alice", "--password", "long-password").code == 0

    again = cli("user", "create", "ALICE", "--password", "other-password")

    assert again.code == 2
    assert "error: username is already taken" in again.err
    assert "Traceback" not in again.err
    assert query(db_file, "SELECT count(*) FROM sellers") == [(1,)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--password", "short"), "password"),
        (("--password", "long-password", "--plan", "gold"), "plan"),
    ],
)
def test_invalid_user_is_a_clear_error(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("user", "create", "alice", *args)

    assert result.code == 2
    assert result.err.startswith("error:") or "\nerror:" in result.err
    assert message in result.err
    assert "Traceback" not in result.err


def test_demo_creates_a_seller_with_months_of_history(cli: Cli, db_file: Path) -> None:
    result = cli("demo")

    assert result.code == 0, result.err
    assert "demo" in result.out
    [(seller_id,)] = query(db_file, "SELECT id FROM sellers WHERE username = 'demo'")
    orders = query(db_file, "SELECT created_at FROM orders WHERE seller_id = ?", seller_id)
    months = {datetime.fromisoformat(str(row[0])).strftime("%Y-%m") for row in orders}
    categories = query(
        db_file, "SELECT DISTINCT category FROM products WHERE seller_id = ?", seller_id
    )
    statuses = {row[0] for row in query(db_file, "SELECT DISTINCT status FROM orders")}

    assert len(orders) > 100
    assert len(months) >= 5
    assert len(categories) >= 4
    assert {"new", "delivered", "cancelled"} <= statuses
    assert query(
        db_file,
        "SELECT count(*) FROM orders o WHERE NOT EXISTS "
        "(SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
    ) == [(0,)]
    assert query(
        db_file,
        "SELECT count(*) FROM orders o WHERE total_amount != "
        "(SELECT sum(line_total) FROM order_items i WHERE i.order_id = o.id)",
    ) == [(0,)]


def test_demo_can_be_run_twice(cli: Cli, db_file: Path) -> None:
    assert cli("demo").code == 0
    again = cli("demo")

    assert again.code == 0, again.err
    assert query(db_file, "SELECT count(*) FROM sellers WHERE username = 'demo'") == [(1,)]


@pytest.mark.parametrize("role", ["web", "worker"])
def test_scale_out_roles_refuse_sqlite(cli: Cli, db_file: Path, role: str) -> None:
    result = cli(role, timeout=30)

    assert result.code == 2
    assert "PostgreSQL" in result.err and "python main.py" in result.err
    assert "Traceback" not in result.err
    assert not db_file.exists()

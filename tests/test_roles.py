"""Which configurations may run which role: `python main.py web | worker | all`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings, field_names
from main import role_problems

ROOT = Path(__file__).resolve().parents[1]
PG = "postgres://postgres@127.0.0.1:5432/app"
REDIS = "redis://127.0.0.1:6379/0"


def config(**values: object) -> Settings:
    """Settings from `values` alone: the environment (the PostgreSQL pass sets DATABASE_URL
    and REDIS_URL) must not leak in."""
    clean: dict[str, object] = {
        "database_url": "sqlite://data/app.sqlite3",
        "redis_url": None,
        "bot_token": None,
        "bot_mode": "polling",
        "webhook_secret": None,
    }
    return Settings(_env_file=None, **{**clean, **values})  # type: ignore[call-arg, arg-type]


def bot(mode: str = "webhook", secret: str | None = "s3cret_ok-1") -> dict[str, object]:
    return {
        "bot_token": SecretStr("1:abc"),
        "bot_mode": mode,
        "webhook_secret": SecretStr(secret) if secret is not None else None,
    }


@pytest.mark.parametrize(
    ("command", "values", "complaint"),
    [
        ("all", {}, None),
        ("all", bot("polling", None), None),
        ("web", {}, "SQLite is for one process"),
        ("worker", {"redis_url": REDIS}, "SQLite is for one process"),
        ("web", {"database_url": PG}, "need REDIS_URL"),
        ("worker", {"database_url": PG, "redis_url": REDIS}, None),
        ("web", {"database_url": PG, "redis_url": REDIS, **bot()}, None),
        ("web", {"database_url": PG, "redis_url": REDIS, **bot("polling")}, "BOT_MODE=webhook"),
        ("worker", {"database_url": PG, "redis_url": REDIS, **bot(secret=None)}, "WEBHOOK_SECRET"),
        ("all", bot("webhook", "has spaces"), "WEBHOOK_SECRET"),
        ("migrate", {"database_url": PG}, None),
    ],
)
def test_role_requirements(command: str, values: dict[str, object], complaint: str | None) -> None:
    problems = role_problems(config(**values), command)
    if complaint is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert complaint in problems[0]


def test_splitting_roles_on_sqlite_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.lower() not in set(field_names())}
    env["DATABASE_URL"] = f"sqlite://{tmp_path / 'db.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "main.py", "web"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "SQLite is for one process" in done.stderr
    assert "python main.py" in done.stderr


def test_the_env_example_sourced_into_the_environment_gives_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The deployment guide: `set -a; . /etc/sellercloudx.env` with `KEY=` lines left empty.
    names = {name.upper() for name in field_names()}
    listed: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            listed[key] = value
    assert set(listed) == names  # every setting is listed, nothing else
    for key, value in listed.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url is None and settings.bot_token is None
    assert settings.account_cache_seconds is None and settings.cors_origins == ""
    assert settings.http_port == 8080

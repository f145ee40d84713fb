"""Start real `python main.py web` / `worker` processes against PostgreSQL and Redis.

Used by the multi-process test and by `bench/scale.py`:

    async with Cluster(env) as cluster:
        web1 = await cluster.start("web", port=free_port())
        worker = await cluster.start("worker", port=free_port())
        await cluster.wait_healthy()

Each process writes its (JSON) log to `log_dir/<name>.log`; `stop` sends SIGTERM and waits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_dsn(database_url: str) -> str:
    base = database_url.rpartition("/")[0]
    return base.replace("postgres://", "postgresql://", 1) + "/postgres"


async def create_database(
    database_url: str, prefix: str = "scx_scale", template: str | None = None
) -> str:
    """A fresh database next to `database_url`'s (empty, or a copy of the `template`
    database's URL); returns its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    copy = f' TEMPLATE "{template.rpartition("/")[2]}"' if template else ""
    conn = await asyncpg.connect(_admin_dsn(database_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return database_url.rpartition("/")[0] + "/" + name


async def drop_database(url: str) -> None:
    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def terminate_connections(url: str) -> int:
    """Cut every connection to this database, as a PostgreSQL restart does."""
    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await conn.close()
    return len(rows)


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """`python main.py ARGS` to completion (migrate, user create); returns its output."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"main.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def base_env(**values: Any) -> dict[str, str]:
    """The test process's environment minus settings, plus `values` (upper-cased names)."""
    from core.settings import field_names

    env = {k: v for k, v in os.environ.items() if k.lower() not in set(field_names())}
    env.update({name.upper(): str(value) for name, value in values.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class Process:
    name: str
    role: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Cluster:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: list[Process] = []

    async def start(self, role: str, *, port: int, name: str | None = None, **env: Any) -> Process:
        """Start `main.py role`; `port` is HTTP_PORT (web) or METRICS_PORT (worker)."""
        name = name or f"{role}{sum(p.role == role for p in self.processes) + 1}"
        values = {**self.env, **{k.upper(): str(v) for k, v in env.items()}}
        values["HTTP_PORT" if role == "web" else "METRICS_PORT"] = str(port)
        if role == "web":
            values["METRICS_PORT"] = "0"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "main.py",
            role,
            cwd=ROOT,
            env=values,
            stdout=log_file,
            stderr=log_file,
        )
        started = Process(name, role, port, process, log_path, log_file)
        self.processes.append(started)
        return started

    async def wait_healthy(
        self, processes: list[Process] | None = None, timeout: float = STARTUP_TIMEOUT
    ) -> None:
        """Until every process answers /ready with 200 (bounded)."""
        pending = list(processes or self.processes)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while pending:
                for proc in list(pending):
                    if proc.process.returncode is not None:
                        raise RuntimeError(f"{proc.name} exited:\n{proc.log()[-3000:]}")
                    try:
                        async with http.get(proc.url + "/ready") as response:
                            if response.status == 200:
                                pending.remove(proc)
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(p.name for p in pending)
                    logs = "\n".join(p.log()[-2000:] for p in pending)
                    raise TimeoutError(f"not ready after {timeout}s: {names}\n{logs}")
                if pending:
                    await asyncio.sleep(0.2)

    async def stop(self, proc: Process, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if proc.process.returncode is None:
            proc.process.send_signal(sig)
            try:
                await asyncio.wait_for(proc.process.wait(), timeout)
            except TimeoutError:
                proc.process.kill()
                await proc.process.wait()
        proc.log_file.close()
        return int(proc.process.returncode or 0)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(p) for p in self.processes))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_all()

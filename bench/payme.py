"""Payme PerformTransaction round trips per second, on SQLite and on PostgreSQL.

    python bench/payme.py [--requests 1000] [--concurrency 1,8] [--postgres URL | --no-postgres]

For each database: a fresh database is migrated, sellers and pending Payme transactions are
prepared through the core services, then every transaction is performed once over real HTTP
(127.0.0.1, keep-alive) against the full application: the Payme auth check, the row locks,
the plan activation, the audit event and the domain event, committed. The reference is a
bare aiohttp JSON-RPC echo served in the same process and driven by the same client loop.
Both are printed with their ratio. Logging is at WARNING so console output is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import db
from core.models import Payment, Provider, Seller
from core.payments import payme, service
from core.payments.schemas import CreatePaymentIn
from core.settings import Settings, use_settings
from web.app import create_app

KEY = "bench-payme-key"
AUTH = "Basic " + base64.b64encode(f"Paycom:{KEY}".encode()).decode()
SELLERS = 50
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
PAYME_PATH = "/api/payment/callback/payme"
MARKER = "BENCH-ROWS "


@dataclass(frozen=True, slots=True)
class Result:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def drive(url: str, bodies: list[bytes], concurrency: int) -> Result:
    """POST every body once, `concurrency` at a time, each answer read and checked."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.json()
                latencies.append(time.perf_counter() - started)
                assert "result" in answer, answer

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(len(bodies), elapsed, latencies)


def rpc(method: str, params: dict[str, Any], rpc_id: int) -> bytes:
    payload = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}
    return json.dumps(payload).encode()


async def echo(request: web.Request) -> web.Response:
    """The reference: parse the JSON-RPC request and answer its params, nothing else."""
    payload = await request.json()
    answer = {"jsonrpc": "2.0", "id": payload.get("id"), "result": payload.get("params")}
    return web.json_response(answer)


async def create_sellers() -> list[Seller]:
    return [
        await Seller.create(username=f"bench{i}", referral_code=f"BENCH{i:04d}")
        for i in range(SELLERS)
    ]


async def prepare_transactions(sellers: list[Seller], count: int) -> list[str]:
    """Pending payments with a created Payme transaction each; returns the Payme ids."""
    order = CreatePaymentIn(amount=300_000, pricing_tier="starter_pro", provider=Provider.PAYME)
    ids = []
    for i in range(count):
        checkout = await service.create_payment(sellers[i % len(sellers)].id, order)
        tx_id = uuid.uuid4().hex[:24]
        await payme.create_transaction(
            {
                "id": tx_id,
                "time": int(time.time() * 1000),
                "amount": 300_000 * 100,
                "account": {"transaction_id": checkout.transaction_id},
            }
        )
        ids.append(tx_id)
    return ids


@asynccontextmanager
async def database(kind: str, pg_url: str) -> AsyncIterator[Settings]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield await _ready(f"sqlite://{tmp}/bench.sqlite3")
        return
    base, _, _ = pg_url.rpartition("/")
    name = f"scx_bench_{os.getpid()}"
    admin = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1) + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield await _ready(f"{base}/{name}")
    finally:
        await db.close_db()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _ready(url: str) -> Settings:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        redis_url=None,
        payme_key=SecretStr(KEY),
        payme_merchant_id="bench",
        log_level="WARNING",
        rate_limit_enabled=False,
    )
    use_settings(settings)
    await db.migrate(settings)
    await db.init_db(settings)
    return settings


async def bench_one(kind: str, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    async with database(kind, args.postgres) as settings:
        app = create_app(settings)
        echo_app = web.Application()
        echo_app.router.add_post("/rpc", echo)
        sellers = await create_sellers()
        async with serve(app) as base, serve(echo_app) as echo_base:
            for concurrency in args.concurrency:
                ids = await prepare_transactions(sellers, args.requests)
                performs = [rpc("PerformTransaction", {"id": i}, n) for n, i in enumerate(ids)]
                await drive(echo_base + "/rpc", performs[:50], concurrency)  # warm-up
                reference = await drive(echo_base + "/rpc", performs, concurrency)
                measured = await drive(base + PAYME_PATH, performs, concurrency)
                paid = await Payment.filter(status="paid").count()
                assert paid == args.requests * (len(rows) + 1), paid
                rows.append(summarize(kind, concurrency, measured, reference))
        await db.close_db()
    return rows


Row = dict[str, Any]


def summarize(kind: str, concurrency: int, measured: Result, reference: Result) -> Row:
    return {
        "database": kind,
        "concurrency": concurrency,
        "rps": measured.rps,
        "p50": measured.p(0.5),
        "p99": measured.p(0.99),
        "echo_rps": reference.rps,
        "echo_p99": reference.p(0.99),
    }


def report(rows: list[Row]) -> None:
    print(
        f"{'database':<10} {'conc':>4} {'perform rps':>12} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'echo rps':>10} {'echo p99':>9} {'ratio':>7}"
    )
    for row in rows:
        print(
            f"{row['database']:<10} {row['concurrency']:>4} {row['rps']:>12.0f}"
            f" {row['p50']:>8.2f} {row['p99']:>8.2f} {row['echo_rps']:>10.0f}"
            f" {row['echo_p99']:>9.2f} {row['rps'] / row['echo_rps']:>7.3f}"
        )
    print("ratio = PerformTransaction rps / bare aiohttp JSON-RPC echo rps (same client, run)")


async def reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def child(args: argparse.Namespace) -> None:
    """One database per process: tortoise keeps per-dialect query caches on the models."""
    logging.basicConfig(level=logging.WARNING)
    rows = await bench_one(args.backend, args)
    print(MARKER + json.dumps(rows))


def run_backend(kind: str, argv: list[str]) -> list[Row]:
    done = subprocess.run(
        [sys.executable, __file__, *argv, "--backend", kind],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {kind} run failed")
    rows: list[Row] = json.loads(lines[-1].removeprefix(MARKER))
    return rows


def main(args: argparse.Namespace, argv: list[str]) -> None:
    kinds = ["sqlite"]
    if not args.no_postgres:
        if asyncio.run(reachable(args.postgres)):
            kinds.append("postgres")
        else:
            print(f"PostgreSQL not reachable at {args.postgres}: SQLite only", file=sys.stderr)
    rows = [row for kind in kinds for row in run_backend(kind, argv)]
    print(f"Payme PerformTransaction: {args.requests} transactions per row, over HTTP")
    report(rows)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 8],
        help="comma-separated client concurrencies (default 1,8)",
    )
    env_pg = os.environ.get("DATABASE_URL", "")
    parser.add_argument(
        "--postgres", default=env_pg if env_pg.startswith("postgres") else DEFAULT_PG
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    if arguments.backend:
        asyncio.run(child(arguments))
    else:
        main(arguments, sys.argv[1:])

"""`GET /api/products` under load: the real app against a raw-driver and a bare handler.

    python bench/api.py                                  # SQLite in a temp dir, 10 s each
    python bench/api.py --duration 5 --connections 64 --rounds 3
    python bench/api.py --database postgres://postgres@127.0.0.1:5432/postgres
    python bench/api.py --tool python                    # without wrk

A fresh database (a temp SQLite file, or a `scx_bench_*` database created on the given
PostgreSQL server and dropped afterwards) is migrated; one seller gets 50 products and logs in
through `POST /api/login`. The seller is on the enterprise plan: the rate-limit middleware
runs (plan lookup included) but never refuses. This one process then serves, on two free
127.0.0.1 ports in the same event loop:

- app:  `create_app()` with every middleware; `GET /api/products?limit=50` with the session
        cookie (session and account check, rate-limit middleware, the page query
        through tortoise's connection, rows named as the JSON writes them, the envelope);
- raw:  a bare aiohttp app whose handler runs the same SQL statement through the raw
        driver (aiosqlite, or an asyncpg pool configured as the app's) and builds the same
        JSON, checked byte for byte against the app's answer;
- bare: the same bare app returning those bytes as they are.

Each target gets the same load from another process: `wrk` when installed (keep-alive,
`--threads`, `--connections`), otherwise bench/loadgen.py; a warm-up is not counted. With
`--rounds N` the targets are interleaved N times and the median run of each is kept, which
tames a busy machine. Logging is at WARNING. Printed per target: requests per second, p99
latency, and this process's CPU time per request (all threads: a figure that other load on
the machine disturbs less than throughput); then app/raw and app/bare, and PASS/FAIL against
the targets (app >= 0.5 x raw, >= 1000 rps on SQLite, no failed request). Exit status 0 on PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import db
from core.models import Seller
from core.schemas import ProductIn, RegisterIn
from core.services import accounts, products
from core.settings import Settings, use_settings
from web.app import create_app

PRODUCTS = 50
USERNAME, PASSWORD = "bench", "bench-password"
PATH = f"/api/products?limit={PRODUCTS}"
TARGET_RATIO, TARGET_RPS = 0.5, 1000.0
BENCH_DIR = Path(__file__).resolve().parent

# The statement the app runs for the page: the rows and, by a window count, the total.
LIST_SQL = (
    'SELECT "id","sku","name","description","price","stock","category","photos",'
    '"created_at","updated_at",COUNT(*) OVER () FROM "products" WHERE "seller_id"={p1} '
    'ORDER BY "id" DESC LIMIT {p2} OFFSET {p3}'
)

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"seconds\\": %f, \\"errors\\": %d, \\"non2xx\\": %d, "
    .. "\\"p50_ms\\": %f, \\"p99_ms\\": %f}\\n",
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True, slots=True)
class Measure:
    rps: float
    p99_ms: float
    requests: int
    failures: int
    cpu_ms: float  # this process's CPU time (every thread) per request: immune to other load


# --- the database ---------------------------------------------------------------------------


@asynccontextmanager
async def bench_database(url: str | None) -> AsyncIterator[str]:
    """A fresh database URL for this run, removed afterwards."""
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="scx-bench-") as tmp:
            yield f"sqlite://{tmp}/bench.sqlite3"
        return
    base = url.replace("postgresql://", "postgres://", 1).rpartition("/")[0]
    admin = base.replace("postgres://", "postgresql://", 1) + "/postgres"
    name = f"scx_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def seed() -> int:
    """The bench seller (unlimited plan: the rate-limit middleware runs but never refuses)."""
    seller = await accounts.register(RegisterIn(username=USERNAME, password=PASSWORD))
    await Seller.filter(id=seller.id).update(plan="enterprise", plan_expires_at=None)
    categories = ["Electronics", "Home", "Clothing", "Beauty", "Food"]
    for i in range(PRODUCTS):
        await products.create(
            seller.id,
            ProductIn(
                name=f"Product {i:02d}",
                sku=f"SKU-{i:03d}",
                price=10_000 + 1_000 * i,
                stock_quantity=100 + i,
                category=categories[i % len(categories)],
                description="Official warranty, delivery across Uzbekistan.",
                photos=[f"https://cdn.example.com/p/{i}.jpg"],
            ),
        )
    return seller.id


# --- the raw reference ----------------------------------------------------------------------


def _iso(value: datetime | str) -> str:
    """A UTC timestamp as pydantic writes it (`...T...Z`)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.isoformat().replace("+00:00", "Z")


def _product(row: Any) -> dict[str, Any]:
    photos = row[7]
    return {
        "id": row[0],
        "sku": row[1],
        "name": row[2],
        "description": row[3],
        "price": row[4],
        "stockQuantity": row[5],
        "category": row[6],
        "photos": json.loads(photos) if isinstance(photos, str) else photos,
        "createdAt": _iso(row[8]),
        "updatedAt": _iso(row[9]),
    }


def _page_body(total: int, rows: list[Any], limit: int) -> bytes:
    payload = {
        "success": True,
        "data": [_product(row) for row in rows],
        "pagination": {"page": 1, "limit": limit, "total": total, "pages": -(-total // limit)},
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


Fetch = Callable[[int, int], Awaitable[tuple[int, list[Any]]]]


@asynccontextmanager
async def raw_driver(settings: Settings) -> AsyncIterator[Fetch]:
    """The statement through aiosqlite (one connection, as the app has) or asyncpg."""
    if settings.is_sqlite:
        conn = await aiosqlite.connect(settings.database_url.split("://", 1)[1])
        list_sql = LIST_SQL.format(p1="?", p2="?", p3="?")

        async def fetch_sqlite(seller_id: int, limit: int) -> tuple[int, list[Any]]:
            async with conn.execute(list_sql, (seller_id, limit, 0)) as cursor:
                rows = list(await cursor.fetchall())
            return (int(rows[0][10]) if rows else 0), rows

        try:
            yield fetch_sqlite
        finally:
            await conn.close()
        return
    dsn = settings.database_url.replace("postgres://", "postgresql://", 1)
    # Pooled as the app pools (same size, same reset), so the driver is all that differs.
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=settings.db_pool_size, reset=db.keep_session_state
    )
    list_sql = LIST_SQL.format(p1="$1", p2="$2", p3="$3")

    async def fetch_pg(seller_id: int, limit: int) -> tuple[int, list[Any]]:
        async with pool.acquire() as conn:
            rows = await conn.fetch(list_sql, seller_id, limit, 0)
        return (int(rows[0][10]) if rows else 0), list(rows)

    try:
        yield fetch_pg
    finally:
        await pool.close()


def reference_app(fetch: Fetch, seller_id: int, fixed: bytes) -> web.Application:
    async def raw(request: web.Request) -> web.Response:
        total, rows = await fetch(seller_id, PRODUCTS)
        return web.Response(
            body=_page_body(total, rows, PRODUCTS), content_type="application/json"
        )

    async def bare(request: web.Request) -> web.Response:
        return web.Response(body=fixed, content_type="application/json")

    app = web.Application()
    app.router.add_get("/raw/products", raw)
    app.router.add_get("/bare/products", bare)
    return app


# --- serving and loading --------------------------------------------------------------------


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def login(base: str, origin: str) -> str:
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{base}/api/login",
            json={"username": USERNAME, "password": PASSWORD},
            headers={"Origin": origin},
        )
        assert response.status == 200, await response.text()
        cookie = response.cookies["scx_session"].value
    return f"scx_session={cookie}"


async def fetch_once(url: str, cookie: str | None = None) -> bytes:
    headers = {"Cookie": cookie} if cookie else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.read()


async def _run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {err.decode()[-500:]}")
    return out.decode()


async def load(url: str, cookie: str | None, args: argparse.Namespace, seconds: int) -> Measure:
    """Load `url` for `seconds` from another process: wrk, or the Python fallback."""
    header = [f"Cookie: {cookie}"] if cookie else []
    cpu_before = time.process_time()
    if args.tool == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        try:
            extra = [arg for h in header for arg in ("-H", h)]
            out = await _run(
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{seconds}s",
                "-s",
                script.name,
                *extra,
                url,
            )
        finally:
            os.unlink(script.name)
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        result = json.loads(line.removeprefix("RESULT "))
    else:
        extra = [arg for h in header for arg in ("--header", h)]
        out = await _run(
            sys.executable,
            str(BENCH_DIR / "loadgen.py"),
            url,
            f"--duration={seconds}",
            f"--connections={args.connections}",
            *extra,
        )
        result = json.loads(out.strip().splitlines()[-1])
    cpu = time.process_time() - cpu_before
    return Measure(
        rps=result["requests"] / result["seconds"],
        p99_ms=result["p99_ms"],
        requests=result["requests"],
        failures=result["errors"] + result["non2xx"],
        cpu_ms=cpu * 1000 / max(1, result["requests"]),
    )


def median(measures: list[Measure]) -> Measure:
    """The run of median throughput (rounds interleave the targets against outside noise)."""
    return sorted(measures, key=lambda m: m.rps)[len(measures) // 2]


def report(results: dict[str, Measure], args: argparse.Namespace, backend: str) -> bool:
    app, raw, bare = results["app"], results["raw"], results["bare"]
    vs_raw, vs_bare = app.rps / raw.rps, app.rps / bare.rps
    print(
        f"\nGET {PATH} ({PRODUCTS} products) on {backend}, {args.tool}, "
        f"{args.connections} connections, {args.duration:g} s each"
    )
    print(f"{'target':<8}{'rps':>10}{'p99 ms':>10}{'requests':>10}{'failed':>8}{'cpu ms/req':>12}")
    for name, m in results.items():
        print(
            f"{name:<8}{m.rps:>10.0f}{m.p99_ms:>10.1f}{m.requests:>10}{m.failures:>8}"
            f"{m.cpu_ms:>12.3f}"
        )
    print(f"ratios: app/raw {vs_raw:.2f}   app/bare {vs_bare:.2f}")
    failed = sum(m.failures for m in results.values())
    # The requests-per-second target is the embedded default's (SQLite); on PostgreSQL the
    # server shares this machine's cores with the app, so only the ratio is held to a target.
    rps_target = TARGET_RPS if backend == "SQLite" else None
    passed = vs_raw >= TARGET_RATIO and app.rps >= (rps_target or 0) and not failed
    verdict = "PASS" if passed else "FAIL"
    rps_goal = f"target >= {rps_target:.0f}" if rps_target else "no target on PostgreSQL"
    print(
        f"{verdict}: app/raw {vs_raw:.2f} (target >= {TARGET_RATIO}), "
        f"app {app.rps:.0f} rps ({rps_goal}), {failed} failed requests"
    )
    return passed


async def bench(args: argparse.Namespace) -> bool:
    async with bench_database(args.database) as url:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            redis_url=None,
            log_level="WARNING",
            public_url="http://127.0.0.1:8080",
        )
        use_settings(settings)
        await db.migrate(settings)
        await db.init_db(settings)
        try:
            seller_id = await seed()
            app_runner, app_base = await serve(create_app(settings))
            cookie = await login(app_base, settings.public_url)
            expected = await fetch_once(app_base + PATH, cookie)
            async with raw_driver(settings) as fetch:
                ref_runner, ref_base = await serve(reference_app(fetch, seller_id, expected))
                raw_body = await fetch_once(ref_base + "/raw/products")
                assert raw_body == expected, "the raw handler must answer the app's exact bytes"
                targets = {
                    "app": (app_base + PATH, cookie),
                    "raw": (ref_base + "/raw/products", None),
                    "bare": (ref_base + "/bare/products", None),
                }
                runs: dict[str, list[Measure]] = {name: [] for name in targets}
                for _ in range(args.rounds):
                    for name, (target, with_cookie) in targets.items():
                        if args.warmup > 0:
                            await load(target, with_cookie, args, args.warmup)
                        runs[name].append(await load(target, with_cookie, args, args.duration))
                results = {name: median(measures) for name, measures in runs.items()}
                await ref_runner.cleanup()
            await app_runner.cleanup()
        finally:
            await db.close_db()
            use_settings(None)
    backend = "SQLite" if settings.is_sqlite else "PostgreSQL"
    return report(results, args, backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="postgres://... (default: a temp SQLite file)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per target")
    parser.add_argument("--warmup", type=int, default=2, help="seconds, not counted")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; median kept")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "python"
    logging.basicConfig(level=logging.WARNING)
    passed = asyncio.run(bench(args))
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()

"""Scale-out benchmark: the same authenticated API load on one, then two web processes.

    .venv/bin/python bench/scale.py [--duration 15] [--repeat 3] [--connections 32]

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL (default: the local servers); a
fresh migrated database is made once, and every run works on its own copy of it (so that
the orders written by one run do not slow the next). The web processes are real
`main.py web` processes sharing one port (HTTP_REUSE_PORT: the kernel spreads connections
among them). The load is wrk (when installed) or an aiohttp generator in another process:
a logged-in seller on an enterprise plan (no rate limit) reading orders, products and the
profile, and creating an order one request in ten. One and two processes are measured in
turn, `--repeat` times; each run prints requests per second, p50, p99 and where the
machine's CPU went (web, PostgreSQL, Redis, the load generator, the hypervisor's steal,
everything else), and the end compares the medians: requests per second, p99, ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.scale.cluster import (
    Cluster,
    base_env,
    create_database,
    drop_database,
    free_port,
    run_cli,
)

USER, PASSWORD = "bench", "bench-password-1"
READS = ["/api/orders?limit=5", "/api/products?limit=20", "/api/user", "/api/orders/1"]
WRITE_EVERY = 10
ORDER_BODY = {"items": [{"name": "Bench item", "quantity": 1, "price": 1000}]}

WRK_SCRIPT = """
local paths = {%(paths)s}
local n = 0
local body = '%(body)s'
request = function()
  n = n + 1
  if %(every)d > 0 and n %% %(every)d == 0 then
    return wrk.format("POST", "/api/orders", {
      ["Content-Type"] = "application/json", ["Origin"] = "%(origin)s",
      ["Cookie"] = "%(cookie)s"}, body)
  end
  return wrk.format("GET", paths[(n %% #paths) + 1], {["Cookie"] = "%(cookie)s"})
end
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  for status, count in pairs(statuses) do
    io.write(string.format("STATUS %%d %%d\\n", status, count))
  end
  io.write(string.format("JSON {\\"requests\\": %%d, \\"seconds\\": %%f, \\"errors\\": %%d, " ..
    "\\"p50\\": %%f, \\"p99\\": %%f}\\n", summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--write-every", type=int, default=WRITE_EVERY, help="one order in N requests (0: none)"
    )
    parser.add_argument(
        "--processes", default="1,2", help="web process counts to measure, comma-separated"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds; the medians of the rounds are compared"
    )
    return parser


async def _login(base: str) -> str:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, headers={"Origin": base}) as http:
        async with http.post(
            base + "/api/login", json={"username": USER, "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
        cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
        for i in range(20):
            product = {
                "name": f"Product {i}",
                "sku": f"SKU-{i}",
                "price": 10_000 + i,
                "stockQuantity": 1000,
            }
            async with http.post(base + "/api/products", json=product) as response:
                assert response.status in (201, 409), await response.text()
        for _ in range(40):
            async with http.post(base + "/api/orders", json=ORDER_BODY) as response:
                assert response.status == 201, await response.text()
    return cookie


def _run_wrk(
    base: str, cookie: str, seconds: float, connections: int, write_every: int
) -> dict[str, Any]:
    script = WRK_SCRIPT % {
        "paths": ", ".join(f'"{p}"' for p in READS),
        "body": json.dumps(ORDER_BODY),
        "every": write_every,
        "origin": base,
        "cookie": cookie,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{int(seconds)}s",
                "--timeout",
                "10s",
                "-s",
                handle.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(handle.name)
    lines = done.stdout.splitlines()
    result: dict[str, Any] = json.loads(next(x for x in lines if x.startswith("JSON "))[5:])
    result["statuses"] = {
        int(x.split()[1]): int(x.split()[2]) for x in lines if x.startswith("STATUS ")
    }
    return result


def _python_load(
    base: str, cookie: str, seconds: float, connections: int, write_every: int, out: Any
) -> None:
    async def run() -> dict[str, Any]:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors = 0
        deadline = time.monotonic() + seconds
        headers = {"Cookie": cookie, "Origin": base}
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

            async def user(offset: int) -> None:
                nonlocal errors
                n = offset
                while time.monotonic() < deadline:
                    n += 1
                    started = time.perf_counter()
                    if write_every and n % write_every == 0:
                        request = http.post(base + "/api/orders", json=ORDER_BODY)
                    else:
                        request = http.get(base + READS[n % len(READS)])
                    async with request as response:
                        await response.read()
                        errors += response.status >= 400
                        statuses[response.status] = statuses.get(response.status, 0) + 1
                    latencies.append(time.perf_counter() - started)

            started = time.monotonic()
            await asyncio.gather(*(user(i) for i in range(connections)))
            elapsed = time.monotonic() - started
        latencies.sort()
        return {
            "requests": len(latencies),
            "seconds": elapsed,
            "errors": errors,
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000,
            "statuses": statuses,
        }

    out.put(asyncio.run(run()))


def _run_python(
    base: str, cookie: str, seconds: float, connections: int, write_every: int
) -> dict[str, Any]:
    """The aiohttp generator in its own process, so it does not share the app's loop."""
    queue: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
    worker = multiprocessing.Process(
        target=_python_load, args=(base, cookie, seconds, connections, write_every, queue)
    )
    worker.start()
    result = queue.get(timeout=seconds + 60)
    worker.join(10)
    return result


async def _measure(
    env: dict[str, str], processes: int, args: argparse.Namespace, generator: str
) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Every run starts from the same data: a copy of the migrated template database.
    database = await create_database(env["DATABASE_URL"], "scx_bench_run", env["DATABASE_URL"])
    run_env = {**env, "PUBLIC_URL": base, "DATABASE_URL": database}
    try:
        return await _measure_on(run_env, port, processes, args, generator)
    finally:
        await drop_database(database)


async def _measure_on(
    env: dict[str, str], port: int, processes: int, args: argparse.Namespace, generator: str
) -> dict[str, Any]:
    base = env["PUBLIC_URL"]
    with tempfile.TemporaryDirectory() as logs:
        async with Cluster(env, Path(logs)) as cluster:
            started = [
                await cluster.start("web", port=port, http_reuse_port="true")
                for _ in range(processes)
            ]
            await cluster.wait_healthy(started)
            await _wait_listening(started)
            cookie = await _login(base)
            run = _run_wrk if generator == "wrk" else _run_python
            load = (base, cookie)
            await asyncio.to_thread(run, *load, args.warmup, args.connections, args.write_every)
            pids = {p.pid for p in started}
            before, clock, children = _cpu_ticks(pids), time.monotonic(), _children_cpu()
            result = await asyncio.to_thread(
                run, *load, args.duration, args.connections, args.write_every
            )
            elapsed = time.monotonic() - clock
            load_cores = (_children_cpu() - children) / elapsed
            result["cpu"] = _cores(before, _cpu_ticks(pids), elapsed, load_cores)
            return result


def _cpu_ticks(web_pids: set[int]) -> dict[str, int]:
    """CPU time so far (clock ticks) of the web processes, PostgreSQL, Redis, the load
    generator and everything else on the machine, from /proc."""
    ticks = {"web": 0, "postgres": 0, "redis": 0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        pid, rest = int(raw.split(" ", 1)[0]), raw.rsplit(")", 1)
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = rest[1].split()
        used = int(fields[11]) + int(fields[12])  # utime + stime
        if pid in web_pids:
            ticks["web"] += used
        elif comm.startswith("postgres"):
            ticks["postgres"] += used
        elif comm.startswith("redis-server"):
            ticks["redis"] += used
    busy = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    total = sum(int(v) for v in busy)
    ticks["machine busy"] = total - int(busy[3]) - int(busy[4])  # minus idle and iowait
    ticks["steal"] = int(busy[7])  # taken by the hypervisor for other guests
    return ticks


def _children_cpu() -> float:
    """CPU seconds of this script's finished children: the load generator of a run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cores(before: dict[str, int], after: dict[str, int], seconds: float, load: float) -> str:
    hz = os.sysconf("SC_CLK_TCK")
    used = {k: (after[k] - before[k]) / hz / seconds for k in after}
    used["load"] = load
    totals = ("machine busy", "steal")
    known = sum(v for k, v in used.items() if k not in totals)
    others = used["machine busy"] - used["steal"] - known
    parts = [f"{k} {v:.2f}" for k, v in used.items() if k not in totals]
    parts.append(f"steal {used['steal']:.2f}")
    return ", ".join([*parts, f"other {max(0.0, others):.2f}"]) + f" of {os.cpu_count()} cores"


async def _wait_listening(processes: list[Any]) -> None:
    """With a shared port, /ready may come from either process: wait for each one's log."""
    deadline = time.monotonic() + 30
    while not all("web listening" in p.log() for p in processes):
        if time.monotonic() > deadline:
            raise TimeoutError("web processes did not start")
        await asyncio.sleep(0.2)


def _median(results: list[dict[str, Any]]) -> tuple[float, float]:
    return (
        statistics.median(r["rps"] for r in results),
        statistics.median(r["p99"] for r in results),
    )


def _failures(result: dict[str, Any]) -> str:
    failed = {k: v for k, v in result.get("statuses", {}).items() if not 200 <= k < 300}
    return ", ".join(f"{k}: {v}" for k, v in sorted(failed.items())) or "none"


async def main() -> None:
    args = _parser().parse_args()
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    database_url = os.environ.get("DATABASE_URL", "").strip()
    if not database_url.startswith("postgres"):
        database_url = "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    database = await create_database(database_url, prefix="scx_bench")
    prefix = f"scx_bench_{os.getpid()}:"
    env = base_env(
        database_url=database,
        redis_url=redis_url,
        redis_prefix=prefix,
        rate_limit_prefix=prefix + "limits",
        secret_key="bench-secret-key",
        log_level="INFO",
        log_format="json",
    )
    try:
        run_cli(env, "migrate")
        run_cli(env, "user", "create", USER, "--password", PASSWORD, "--plan", "enterprise")
        print(
            f"load: {generator}, {args.connections} connections, {args.duration:.0f}s per run "
            f"(after {args.warmup:.0f}s warm-up); {os.cpu_count()} cores shared by the load "
            "generator, PostgreSQL, Redis and the web processes"
        )
        counts = [int(n) for n in args.processes.split(",")]
        runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
        for round_ in range(args.repeat):
            for processes in counts:  # alternated, so a change in background load hits both
                result = await _measure(env, processes, args, generator)
                result["rps"] = result["requests"] / result["seconds"]
                runs[processes].append(result)
                plural = "es" if processes > 1 else ""
                print(
                    f"[{round_ + 1}] {processes} web process{plural}: {result['rps']:8.1f} req/s"
                    f"  p50 {result['p50']:6.1f} ms  p99 {result['p99']:6.1f} ms"
                    f"  non-2xx {_failures(result)}\n    CPU in use (cores): {result['cpu']}"
                )
        summary = {n: _median(results) for n, results in runs.items()}
        for processes, (rps, p99) in summary.items():
            print(f"median, {processes} web process(es): {rps:8.1f} req/s  p99 {p99:6.1f} ms")
        if 1 in summary and 2 in summary:
            ratio = summary[2][0] / summary[1][0]
            print(f"scaling ratio (2 processes / 1): {ratio:.2f}  (target >= 1.3)")
    finally:
        await _drop_keys(redis_url, prefix)
        await drop_database(database)


async def _drop_keys(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())

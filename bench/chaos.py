"""Restart PostgreSQL and Redis under load, and count what was lost.

    .venv/bin/python bench/chaos.py [--seconds 24]

Starts a private PostgreSQL cluster and a private Redis on free ports (the machine's own
servers are left alone), two `main.py web` processes and one `main.py worker` configured
as the README's deployment guide says, and nginx in front with the README's configuration
(when nginx is installed; otherwise the clients alternate between the two processes).
Then, for `--seconds`, sellers create orders, pay for plans through Payme's callbacks, and
Telegram (a local fake) delivers `/start` updates by webhook, while Redis is restarted
(empty), then PostgreSQL, then both. Clients behave as real ones: they retry on 503 and log
in again on 401; the fake Telegram redelivers any update not answered 2xx.

Checked at the end: every answer was JSON; every order answered 201 exists; every payment
Payme saw performed is paid, once; every update got exactly one reply; every process is
ready again and one worker runs the scheduler. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.telegram import FakeTelegramServer
from tests.scale.cluster import ROOT, Cluster, base_env, free_port, run_cli

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/usr/bin"))
PASSWORD = "chaos-password-1"
PAYME_KEY = "chaos-payme-key"
BOT_TOKEN = "777000:CHAOS-token-00000000000000000000000"
WEBHOOK_SECRET = "chaos-webhook-secret"
PLAN_PRICE_TIYIN = 300_000 * 100


# --- private PostgreSQL and Redis -------------------------------------------------------------


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/sellercloudx"

    def _pg_ctl(self, *args: str) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.dir),
             "-o", opts, "-l", str(self.dir / "log"), "-w", *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(self.dir),
             "-A", "trust", "-U", "postgres"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self._pg_ctl("start")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._pg_ctl("stop", "-m", "immediate")

    async def create_database(self) -> None:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        await conn.execute("CREATE DATABASE sellercloudx")
        await conn.close()


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("redis did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# --- nginx from the README --------------------------------------------------------------------


def nginx_config(root: Path, listen: int, upstreams: list[int]) -> Path:
    """The README's nginx server block, on plain HTTP and these ports."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```nginx\n(.*?)```", readme, re.S)
    assert block, "the README has no nginx block"
    server = block.group(1)
    server = re.sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{listen};", server)
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in upstreams
    )
    server = re.sub(r"(upstream sellercloudx \{\n)(?:    server .*\n)+", r"\1" + servers, server)
    temp = root / "nginx"
    temp.mkdir()
    os.chmod(temp, 0o777)
    conf = temp / "nginx.conf"
    conf.write_text(
        f"pid {temp}/nginx.pid;\nerror_log {temp}/error.log;\nevents {{}}\nhttp {{\n"
        f"access_log {temp}/access.log;\nclient_body_temp_path {temp}/body;\n"
        f"proxy_temp_path {temp}/proxy;\n{server}}}\n"
    )
    return conf


def start_nginx(conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["nginx", "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"]
    )


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Tally:
    answers: Counter[int] = field(default_factory=Counter)
    not_json: list[str] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)
    relogins: int = 0


class Seller:
    """A logged-in API client that retries as a well-behaved client does."""

    def __init__(self, name: str, bases: list[str], origin: str, tally: Tally) -> None:
        self.name, self.bases, self.tally = name, bases, tally
        jar = aiohttp.CookieJar(unsafe=True)
        timeout = aiohttp.ClientTimeout(total=30)
        self.http = aiohttp.ClientSession(
            cookie_jar=jar, headers={"Origin": origin}, timeout=timeout
        )
        self.turn = 0

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """One request (with re-login on 401); retries on 503, 429 and lost connections."""
        for _ in range(200):
            self.turn += 1
            base = self.bases[self.turn % len(self.bases)]
            try:
                async with self.http.request(method, base + path, json=body) as response:
                    status = response.status
                    self.tally.answers[status] += 1
                    if response.content_type != "application/json":
                        self.tally.not_json.append(
                            f"{method} {path} {status} {response.content_type}"
                        )
                        payload: dict[str, Any] = {}
                    else:
                        payload = await response.json()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.3)
                continue
            if status == 401 and path != "/api/login":
                self.tally.relogins += 1
                await self.login()
                continue
            if status in (429, 502, 503, 504):
                await asyncio.sleep(0.3)
                continue
            return status, payload
        raise RuntimeError(f"{method} {path}: no answer after many tries")

    async def login(self) -> None:
        status, payload = await self.call(
            "POST", "/api/login", {"username": self.name, "password": PASSWORD}
        )
        assert status == 200, payload

    async def close(self) -> None:
        await self.http.close()


async def write_orders(seller: Seller, until: float) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        body = {"items": [{"name": f"{seller.name} {n}", "quantity": 1, "price": 1000}]}
        status, payload = await seller.call("POST", "/api/orders", body)
        if status == 201:
            seller.tally.orders.append(payload["data"]["id"])
        await asyncio.sleep(0.05)


async def payme(
    http: aiohttp.ClientSession, base: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    """One Payme call as Payme makes it: repeated until it gets a real answer."""
    auth = "Basic " + base64.b64encode(f"Paycom:{PAYME_KEY}".encode()).decode()
    body = {"jsonrpc": "2.0", "id": int(time.time() * 1000), "method": method, "params": params}
    for _ in range(200):
        try:
            async with http.post(
                base + "/api/payment/callback/payme", json=body, headers={"Authorization": auth}
            ) as response:
                if response.content_type != "application/json":
                    raise AssertionError(f"payme answer not JSON: {response.status}")
                answer: dict[str, Any] = await response.json()
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(0.3)
            continue
        if response.status == 200 and answer.get("error", {}).get("code") != -32400:
            return answer
        await asyncio.sleep(0.3)
    raise RuntimeError(f"payme {method}: no answer")


async def pay(seller: Seller, base: str, count: int, until: float) -> None:
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            if time.monotonic() > until:
                return
            status, created = await seller.call(
                "POST", "/api/payment/create-payment",
                {"amount": 300_000, "pricingTier": "starter_pro", "provider": "payme"},
            )  # fmt: skip
            assert status == 200, created
            transaction = created["transactionId"]
            payme_id = f"chaos{os.getpid()}{i:04d}{int(time.time())}"
            params = {
                "id": payme_id,
                "time": int(time.time() * 1000),
                "amount": PLAN_PRICE_TIYIN,
                "account": {"transaction_id": transaction},
            }
            made = await payme(http, base, "CreateTransaction", params)
            assert "result" in made, made
            done = await payme(http, base, "PerformTransaction", {"id": payme_id})
            assert done.get("result", {}).get("state") == 2, done
            seller.tally.paid.append(transaction)
            await asyncio.sleep(0.5)


async def telegram_traffic(telegram: FakeTelegramServer, until: float, chats: list[int]) -> None:
    chat = 90_000
    while time.monotonic() < until:
        chat += 1
        chats.append(chat)
        telegram.push_message(chat, "/start")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            await telegram.deliver_webhook_updates()
        await asyncio.sleep(0.2)


async def drain(telegram: FakeTelegramServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while telegram.updates and time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            await telegram.deliver_webhook_updates()
        await asyncio.sleep(0.5)


# --- the run ----------------------------------------------------------------------------------


async def chaos(pg: PrivatePostgres, redis: PrivateRedis, seconds: float) -> list[str]:
    steps = []
    plan = [
        (seconds * 0.2, "redis"),
        (seconds * 0.45, "postgres"),
        (seconds * 0.7, "both"),
    ]
    started = time.monotonic()
    for at, what in plan:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        if what in ("redis", "both"):
            redis.stop()
            await asyncio.sleep(1.5)
            redis.start()
        if what in ("postgres", "both"):
            await asyncio.to_thread(pg.restart)
        steps.append(f"{time.monotonic() - started:5.1f}s restarted {what}")
    return steps


async def run(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="scx-chaos-"))
    os.chmod(root, 0o755)
    pg, redis = PrivatePostgres(root), PrivateRedis()
    nginx: subprocess.Popen[bytes] | None = None
    failures: list[str] = []
    try:
        pg.start()
        redis.start()
        await pg.create_database()
        async with FakeTelegramServer(chat_rate=1000, global_rate=10_000) as telegram:
            web_ports, front = [free_port(), free_port()], free_port()
            use_nginx = shutil.which("nginx") is not None and not args.no_nginx
            public = (
                f"http://127.0.0.1:{front}" if use_nginx else f"http://127.0.0.1:{web_ports[0]}"
            )
            env = base_env(
                database_url=pg.url, redis_url=redis.url, secret_key="chaos-secret-key",
                public_url=public, trusted_proxies="127.0.0.1", bot_token=BOT_TOKEN,
                bot_mode="webhook", webhook_secret=WEBHOOK_SECRET, log_format="json",
                log_level="INFO", request_timeout=10, telegram_api_url=telegram.base_url,
                payme_merchant_id="chaos-merchant", payme_key=PAYME_KEY, scheduler_lock_ttl=6,
            )  # fmt: skip
            run_cli(env, "migrate")
            names = [f"seller{i}" for i in range(args.sellers)]
            for name in names:
                run_cli(
                    env, "user", "create", name, "--password", PASSWORD, "--plan", "enterprise"
                )
            async with Cluster(env, root / "logs") as cluster:
                for port in web_ports:
                    await cluster.start("web", port=port)
                worker = await cluster.start("worker", port=free_port())
                await cluster.wait_healthy()
                if use_nginx:
                    conf = nginx_config(root, front, web_ports)
                    nginx = start_nginx(conf)
                    await asyncio.sleep(0.5)
                bases = [public] if use_nginx else [f"http://127.0.0.1:{p}" for p in web_ports]
                failures += await drive(
                    args, telegram, cluster, worker, pg, redis, bases, public, names
                )
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait()
        redis.stop()
        pg.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")
    print("RESULT:", "FAILED" if failures else "OK: nothing lost, every answer JSON")
    for failure in failures:
        print("  -", failure)
    return 1 if failures else 0


async def drive(
    args: argparse.Namespace, telegram: FakeTelegramServer, cluster: Cluster, worker: Any,
    pg: PrivatePostgres, redis: PrivateRedis, bases: list[str], public: str, names: list[str],
) -> list[str]:  # fmt: skip
    tally = Tally()
    sellers = [Seller(name, bases, public, tally) for name in names]
    for seller in sellers:
        await seller.login()
    await asyncio.sleep(2)  # the worker has set the webhook by now
    chats: list[int] = []
    until = time.monotonic() + args.seconds
    print(f"load for {args.seconds:.0f}s through {', '.join(bases)}")
    results = await asyncio.gather(
        chaos(pg, redis, args.seconds),
        *(write_orders(s, until) for s in sellers[1:]),
        pay(sellers[0], bases[0], args.payments, until),
        telegram_traffic(telegram, until, chats),
    )
    for step in results[0]:
        print(step)
    await drain(telegram, 60)
    await cluster.wait_healthy(timeout=60)
    failures = await verify(tally, telegram, chats, pg, cluster, worker)
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(tally.answers.items()))
    print(f"answers by status: {answers}; re-logins after Redis restarts: {tally.relogins}")
    for seller in sellers:
        await seller.close()
    return failures


async def verify(
    tally: Tally, telegram: FakeTelegramServer, chats: list[int], pg: PrivatePostgres,
    cluster: Cluster, worker: Any,
) -> list[str]:  # fmt: skip
    failures = [f"not JSON: {line}" for line in tally.not_json[:10]]
    conn = await asyncpg.connect(pg.url.replace("postgres://", "postgresql://", 1))
    try:
        stored = {r["id"] for r in await conn.fetch("SELECT id FROM orders")}
        paid = {
            r["transaction_id"]: r["status"]
            for r in await conn.fetch("SELECT transaction_id, status FROM payments")
        }
        performed = await conn.fetch(
            "SELECT provider_id, count(*) AS n FROM provider_transactions GROUP BY provider_id"
        )
    finally:
        await conn.close()
    lost = sorted(set(tally.orders) - stored)
    extra = len(stored - set(tally.orders))
    print(f"orders: {len(tally.orders)} answered 201, {len(stored)} stored, "
          f"{extra} stored but answered otherwise (a commit whose answer was cut)")  # fmt: skip
    if lost:
        failures.append(f"orders answered 201 but missing: {lost[:10]}")
    unpaid = [t for t in tally.paid if str(paid.get(t)) != "paid"]
    print(
        f"payments: {len(tally.paid)} performed by Payme, {len(unpaid)} not paid in the database"
    )
    if unpaid:
        failures.append(f"payments performed but not paid: {unpaid[:10]}")
    if any(r["n"] > 1 for r in performed):
        failures.append("a Payme transaction was stored twice")
    replies = Counter(m.chat_id for m in telegram.sent_messages)
    wrong = {chat: replies.get(chat, 0) for chat in chats if replies.get(chat, 0) != 1}
    print(f"telegram: {len(chats)} updates, {len(chats) - len(wrong)} answered exactly once, "
          f"{len(telegram.updates)} still undelivered")  # fmt: skip
    if wrong:
        failures.append(
            f"updates not answered exactly once (chat: replies): {dict(list(wrong.items())[:10])}"
        )
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        leader = re.search(r"^scx_scheduler_leader (\S+)", await response.text(), re.M)
    if not leader or float(leader.group(1)) != 1.0:
        failures.append("the worker does not hold the scheduler lock after the restarts")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument(
        "--sellers", type=int, default=4, help="the first one pays, the rest order"
    )
    parser.add_argument("--payments", type=int, default=8)
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directory")
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()

"""Rate limits counted across two web processes that share Redis.

A real second process (`main.serve` in the web role) runs on a free port next to the
in-process app; both use the same database and Redis. The seller's 100 requests are spent
half on each, and both then refuse. Needs Redis: REDIS_URL, else 127.0.0.1:6379 if it
answers, else the test is skipped.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestClient

from core.settings import Settings
from tests.conftest import browser_headers, register
from web.app import create_app

AiohttpClient = Callable[..., Awaitable[TestClient]]
ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import asyncio, main\n"
    "from core.settings import get_settings\n"
    "asyncio.run(main.serve(get_settings(), web_role=True, worker_role=False))\n"
)


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as probe:
            probe.ping()
    except redis.RedisError:
        return None
    return url


@pytest.fixture
def shared_settings(settings: Settings) -> Settings:
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis on REDIS_URL or 127.0.0.1:6379")
    settings.redis_url = url
    return settings


async def _wait_up(base: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(150):  # 15 s at most
            if proc.returncode is not None:
                raise RuntimeError("the second web process exited")
            try:
                async with http.get(base + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("the second web process did not start")


@pytest.fixture
async def second_process(
    database: None, shared_settings: Settings, unused_tcp_port: int, tmp_path: Path
) -> AsyncIterator[str]:
    """Base URL of another web process of the same deployment."""
    s = shared_settings
    env = {
        **os.environ,
        "DATABASE_URL": s.database_url,
        "REDIS_URL": s.redis_url or "",
        "REDIS_PREFIX": s.redis_prefix,
        "RATE_LIMIT_PREFIX": s.rate_limit_prefix,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(unused_tcp_port),
        "PUBLIC_URL": s.public_url,
        "SECRET_KEY": s.secret_key.get_secret_value(),
        "BOT_TOKEN": "",
        "LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "web2.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVE, cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        await _wait_up(base, proc)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
        client = redis.Redis.from_url(s.redis_url or "")
        keys = list(client.scan_iter(match=s.redis_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def test_two_web_processes_share_one_count(
    shared_settings: Settings, second_process: str, aiohttp_client: AiohttpClient
) -> None:
    here = await aiohttp_client(
        create_app(shared_settings), headers=browser_headers(shared_settings)
    )
    await register(here, "alice")
    cookie = here.session.cookie_jar.filter_cookies(here.make_url("/"))["scx_session"].value
    headers = {**browser_headers(shared_settings), "Cookie": f"scx_session={cookie}"}

    async with aiohttp.ClientSession(headers=headers) as there:
        for _ in range(50):
            (await here.get("/api/products")).release()
        async with there.get(second_process + "/api/products") as response:
            # The other process sees the session and the 50 requests already spent here.
            assert response.status == 200
            assert response.headers["X-RateLimit-Remaining"] == "49"
        for _ in range(49):
            async with there.get(second_process + "/api/products") as response:
                assert response.status == 200

        async with there.get(second_process + "/api/products") as refused_there:
            assert refused_there.status == 429
            assert int(refused_there.headers["Retry-After"]) >= 1
        refused_here = await here.get("/api/products")
        assert refused_here.status == 429


async def test_logout_in_one_process_ends_the_session_in_the_other(
    shared_settings: Settings, second_process: str, aiohttp_client: AiohttpClient
) -> None:
    here = await aiohttp_client(
        create_app(shared_settings), headers=browser_headers(shared_settings)
    )
    await register(here, "bob")
    cookie = here.session.cookie_jar.filter_cookies(here.make_url("/"))["scx_session"].value
    headers = {**browser_headers(shared_settings), "Cookie": f"scx_session={cookie}"}
    async with aiohttp.ClientSession(headers=headers) as there:
        async with there.get(second_process + "/api/user") as before:
            assert before.status == 200
        assert (await here.post("/api/logout")).status == 200
        async with there.get(second_process + "/api/user") as after:
            assert after.status == 401

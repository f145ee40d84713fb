"""Login under attack: brute force, enumeration, fixation, replay, cookies and lifetimes."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from core.models import Seller
from core.services import accounts
from core.settings import Settings
from tests.conftest import browser_headers, register
from web.app import create_app

AiohttpClient = Callable[..., Awaitable[TestClient]]
COOKIE = "scx_session"


def session_cookie(client: TestClient, name: str = COOKIE) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[name].value


async def login(client: TestClient, username: str, password: str, **kw: object):
    return await client.post(
        "/api/login",
        json={"username": username, "password": password},
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts password verifications (each one is an argon2 hash)."""
    calls: list[str] = []
    real = accounts.verify_password

    async def counting(stored: str | None, password: str) -> bool:
        calls.append(password)
        return await real(stored, password)

    monkeypatch.setattr(accounts, "verify_password", counting)
    return calls


def test_argon2id_at_owasp_parameters() -> None:
    from core.passwords import _DUMMY_HASH

    _, variant, _, cost, _, _ = _DUMMY_HASH.split("$")
    params = dict(part.split("=") for part in cost.split(","))
    assert variant == "argon2id"
    assert int(params["m"]) >= 19 * 1024
    assert int(params["t"]) >= 2


async def test_stored_hashes_are_argon2id(client: TestClient) -> None:
    await register(client, "alice", "long-password")
    seller = await Seller.get(username="alice")
    assert seller.password_hash is not None
    assert seller.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_hashing_does_not_block_the_event_loop(client: TestClient) -> None:
    await register(client, "alice", "long-password")
    await client.post("/api/logout")

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(login(client, "alice", "long-password") for _ in range(4)))
    elapsed = time.perf_counter() - started
    task.cancel()
    # The loop kept turning while four hashes ran.
    assert ticks >= elapsed / 0.005 / 4


async def test_eleventh_failure_is_429_and_costs_no_hash(
    client: TestClient, hash_calls: list[str]
) -> None:
    await register(client, "alice", "long-password")
    await client.post("/api/logout")

    statuses = [(await login(client, "alice", f"wrong-{n}")).status for n in range(10)]
    eleventh = await login(client, "alice", "wrong-10")
    body = await eleventh.json()

    assert statuses == [401] * 10
    assert eleventh.status == 429
    assert body["error"]["code"] == "rate_limited"
    assert 1 <= int(eleventh.headers["Retry-After"]) <= 15 * 60
    assert len(hash_calls) == 10
    # Even the right password waits: the guessing stops for the whole account.
    assert (await login(client, "alice", "long-password")).status == 429


async def test_an_unknown_account_is_throttled_exactly_like_a_real_one(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    # Two attackers behind a trusted proxy, one on a real account and one on a made-up one.
    settings.trusted_proxies = "127.0.0.1/32, ::1/128"
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    await register(client, "alice", "long-password")
    await client.post("/api/logout")

    async def eleven(username: str, address: str) -> list[tuple[int, str]]:
        answers = []
        for n in range(11):
            response = await login(
                client, username, f"wrong-{n}", headers={"X-Forwarded-For": address}
            )
            body = await response.json()
            answers.append((response.status, body["error"]["code"]))
        return answers

    real = await eleven("alice", "203.0.113.1")
    made_up = await eleven("ghost", "203.0.113.2")
    assert real == made_up
    assert real[-1] == (429, "rate_limited")


async def test_guesses_across_accounts_are_throttled_per_address(client: TestClient) -> None:
    statuses = [(await login(client, f"user{n}", "password-1")).status for n in range(11)]
    assert statuses == [401] * 10 + [429]


async def test_parallel_guesses_cannot_race_past_the_limit(
    client: TestClient, hash_calls: list[str]
) -> None:
    await register(client, "alice", "long-password")
    await client.post("/api/logout")
    answers = await asyncio.gather(*(login(client, "alice", f"guess-{n}") for n in range(30)))
    statuses = sorted(a.status for a in answers)
    assert statuses.count(429) >= 20
    assert len(hash_calls) <= 10


async def test_the_real_user_is_let_in_again_after_the_window(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.login_window_seconds = 2
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    await register(client, "alice", "long-password")
    await client.post("/api/logout")
    for n in range(10):
        await login(client, "alice", f"wrong-{n}")
    locked = await login(client, "alice", "long-password")
    retry_after = int(locked.headers["Retry-After"])
    # An attacker keeps hammering: refused attempts must not extend the lock.
    for _ in range(5):
        await login(client, "alice", "still-wrong")

    await asyncio.sleep(2.2)
    again = await login(client, "alice", "long-password")
    assert locked.status == 429 and retry_after <= 2
    assert again.status == 200


async def test_a_success_clears_the_account_count(client: TestClient) -> None:
    await register(client, "alice", "long-password")
    await client.post("/api/logout")
    for n in range(5):
        await login(client, "alice", f"wrong-{n}")
    assert (await login(client, "alice", "long-password")).status == 200
    await client.post("/api/logout")
    # Five more failures from this address reach the address cap of ten, not the account's.
    statuses = [(await login(client, "alice", f"again-{n}")).status for n in range(5)]
    assert statuses == [401] * 5


async def test_unknown_user_and_wrong_password_answer_alike_and_in_like_time(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.login_max_failures = 100
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    await register(client, "alice", "long-password")
    await client.post("/api/logout")
    await Seller.create(username="botonly", password_hash=None, referral_code="BOTONLY1")

    async def timed(username: str) -> tuple[float, int, dict, str]:
        started = time.perf_counter()
        response = await login(client, username, "wrong-password")
        body = await response.json()
        elapsed = time.perf_counter() - started
        return elapsed, response.status, body, response.headers.get("Set-Cookie", "")

    await timed("alice")  # warm-up
    results: dict[str, list[tuple[float, int, dict, str]]] = {}
    for name in ("alice", "nobody", "botonly"):
        results[name] = [await timed(name) for _ in range(5)]
    medians = {name: statistics.median(r[0] for r in rows) for name, rows in results.items()}
    answers = {name: {(r[1], str(r[2]), r[3]) for r in rows} for name, rows in results.items()}

    assert answers["alice"] == answers["nobody"] == answers["botonly"]
    assert answers["alice"] == {
        (
            401,
            str(
                {
                    "success": False,
                    "error": {
                        "code": "invalid_credentials",
                        "message": "invalid username or password",
                    },
                }
            ),
            "",
        )
    }
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest < fastest * 2, medians


async def test_login_issues_a_new_session_id_even_for_a_planted_one(
    client: TestClient,
) -> None:
    await register(client, "alice", "long-password")
    await client.post("/api/logout")
    planted = "attacker-chosen-session-value-0123456789"
    client.session.cookie_jar.update_cookies({COOKIE: planted}, client.make_url("/"))

    response = await login(client, "alice", "long-password")
    issued = session_cookie(client)

    assert response.status == 200
    assert issued != planted
    stale = await client.get("/api/user", cookies={COOKIE: planted})
    assert stale.status == 401


async def test_a_session_from_before_login_is_not_promoted(client: TestClient) -> None:
    await register(client, "alice", "long-password")
    first = session_cookie(client)
    await login(client, "alice", "long-password")
    second = session_cookie(client)
    assert first != second
    assert (await client.get("/api/user", cookies={COOKIE: first})).status == 401


async def test_a_cookie_replayed_after_logout_is_dead(client: TestClient) -> None:
    await register(client, "alice", "long-password")
    cookie = session_cookie(client)
    logout = await client.post("/api/logout")
    assert logout.status == 200
    assert "Max-Age=0" in logout.headers["Set-Cookie"]
    replay = await client.get("/api/user", cookies={COOKIE: cookie})
    assert replay.status == 401
    write = await client.post(
        "/api/products", json={"name": "x", "sku": "x", "price": 1}, cookies={COOKIE: cookie}
    )
    assert write.status == 401


async def test_logout_everywhere_ends_every_session(client: TestClient, make_client) -> None:
    await register(client, "alice", "long-password")
    phone = await make_client()
    await login(phone, "alice", "long-password")
    assert (await phone.get("/api/user")).status == 200

    response = await client.post("/api/logout", json={"everywhere": True})
    assert response.status == 200
    assert (await phone.get("/api/user")).status == 401
    assert (await client.get("/api/user")).status == 401


async def test_password_change_ends_other_sessions_and_renews_this_one(
    client: TestClient, make_client
) -> None:
    await register(client, "alice", "long-password")
    before = session_cookie(client)
    laptop = await make_client()
    await login(laptop, "alice", "long-password")

    response = await client.put(
        "/api/user/password",
        json={"currentPassword": "long-password", "newPassword": "brand-new-password"},
    )
    assert response.status == 200
    assert session_cookie(client) != before
    assert (await client.get("/api/user", cookies={COOKIE: before})).status == 401
    assert (await laptop.get("/api/user")).status == 401
    assert (await client.get("/api/user")).status == 200
    await client.post("/api/logout")
    assert (await login(client, "alice", "long-password")).status == 401
    assert (await login(client, "alice", "brand-new-password")).status == 200


async def test_password_change_guesses_are_throttled(seller_client: TestClient) -> None:
    statuses = []
    for n in range(11):
        response = await seller_client.put(
            "/api/user/password",
            json={"currentPassword": f"guess-{n}", "newPassword": "brand-new-password"},
        )
        statuses.append(response.status)
    assert statuses == [401] * 10 + [429]


async def test_a_deactivated_seller_loses_access_at_once(seller_client: TestClient) -> None:
    assert (await seller_client.get("/api/products")).status == 200
    seller = await Seller.get(username="alice")
    seller.is_active = False
    await seller.save()
    assert (await seller_client.get("/api/products")).status == 401
    assert (await seller_client.get("/api/user")).status == 401


async def test_a_change_made_by_another_process_applies_within_the_account_cache_time(
    seller_client: TestClient, settings: Settings
) -> None:
    settings.account_cache_seconds = 0.3
    assert (await seller_client.get("/api/products")).status == 200
    # As the CLI would: a plain UPDATE this process never sees.
    await Seller.filter(username="alice").update(is_active=False)
    cached = (await seller_client.get("/api/products")).status
    await asyncio.sleep(0.35)
    assert (cached, (await seller_client.get("/api/products")).status) == (200, 401)


async def test_without_an_account_cache_every_request_reads_the_account(
    seller_client: TestClient, settings: Settings
) -> None:
    settings.account_cache_seconds = 0
    assert (await seller_client.get("/api/products")).status == 200
    await Seller.filter(username="alice").update(is_active=False)
    assert (await seller_client.get("/api/products")).status == 401


async def test_a_plan_bought_applies_to_the_next_request(seller_client: TestClient) -> None:
    before = await seller_client.get("/api/products")
    seller = await Seller.get(username="alice")
    seller.plan = "enterprise"
    await seller.save()
    after = await seller_client.get("/api/products")
    assert before.headers["X-RateLimit-Limit"] == "100"
    assert "X-RateLimit-Limit" not in after.headers  # enterprise is unlimited


async def test_cookie_flags_without_https(client: TestClient) -> None:
    response = await client.post(
        "/api/register", json={"username": "alice", "password": "long-password"}
    )
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["domain"]
    assert int(cookie["max-age"]) <= 30 * 24 * 3600


async def test_cookie_flags_with_cookie_secure(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.cookie_secure = True
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    response = await client.post(
        "/api/register", json={"username": "alice", "password": "long-password"}
    )
    raw = response.headers["Set-Cookie"]
    assert raw.startswith("__Host-scx_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in raw
    assert "Domain" not in raw
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")

    key = response.cookies["__Host-scx_session"].value
    logout = await client.post("/api/logout", cookies={"__Host-scx_session": key})
    deletion = logout.headers["Set-Cookie"]
    # A __Host- cookie is only deleted by a Set-Cookie that is Secure with Path=/.
    assert deletion.startswith("__Host-scx_session=")
    assert "Secure" in deletion and "Path=/" in deletion and "Max-Age=0" in deletion


async def test_idle_lifetime_comes_from_settings(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.session_idle_timeout = 1
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    await register(client, "alice", "long-password")
    assert (await client.get("/api/user")).status == 200
    await asyncio.sleep(1.2)
    assert (await client.get("/api/user")).status == 401


async def test_absolute_lifetime_comes_from_settings(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.session_max_age = 2
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))
    response = await client.post(
        "/api/register", json={"username": "alice", "password": "long-password"}
    )
    key = response.cookies[COOKIE].value
    assert int(response.cookies[COOKIE]["max-age"]) <= 2
    # Activity does not extend an absolute lifetime.
    for _ in range(3):
        assert (await client.get("/api/user", cookies={COOKIE: key})).status == 200
        await asyncio.sleep(0.4)
    await asyncio.sleep(1.0)
    assert (await client.get("/api/user", cookies={COOKIE: key})).status == 401


@pytest.mark.parametrize(
    "value",
    ["", "x" * 129, "../../etc/passwd", "' OR 1=1 --", "%00abc", "a" * 43],
)
async def test_garbage_cookies_are_just_logged_out(client: TestClient, value: str) -> None:
    response = await client.get("/api/user", headers={"Cookie": f"{COOKIE}={value!s}"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "not_authenticated"


async def test_one_address_cannot_farm_accounts(
    database: None, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    settings.registrations_per_address_per_hour = 5
    settings.trusted_proxies = "127.0.0.1/32, ::1/128"
    client = await aiohttp_client(create_app(settings), headers=browser_headers(settings))

    async def sign_up(name: str, address: str) -> int:
        response = await client.post(
            "/api/register",
            json={"username": name, "password": "long-password"},
            headers={"X-Forwarded-For": address},
        )
        return response.status

    farmed = [await sign_up(f"bot{n}", "203.0.113.5") for n in range(5)]
    # Taken usernames count too: the cap also bounds probing which names exist.
    refused = await sign_up("bot0", "203.0.113.5")
    elsewhere = await sign_up("human", "198.51.100.7")

    assert farmed == [201] * 5
    assert refused == 429
    assert elsewhere == 201
    assert await Seller.filter(username__startswith="bot").count() == 5

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import register


async def test_register_logs_in_and_user_shows_the_seller(client: TestClient) -> None:
    data = await register(client, "Alice", fullName="Alice Karimova", phone="90 123 45 67")

    response = await client.get("/api/user")
    body = await response.json()

    assert data["username"] == "alice"
    assert response.status == 200
    assert body["data"]["phone"] == "998901234567"
    assert body["data"]["fullName"] == "Alice Karimova"
    assert len(body["data"]["telegramLinkCode"]) == 8
    assert "passwordHash" not in body["data"] and "isAdmin" not in body["data"]


async def test_duplicate_username_is_a_conflict(client: TestClient) -> None:
    await register(client, "bob")
    response = await client.post("/api/register", json={"username": "BOB", "password": "x" * 10})
    body = await response.json()
    assert response.status == 409
    assert body["error"]["field"] == "username"


async def test_login_issues_a_new_session_and_logout_ends_it(client: TestClient) -> None:
    await register(client, "carol", "long-password")
    before = client.session.cookie_jar.filter_cookies(client.make_url("/"))["scx_session"].value

    login = await client.post(
        "/api/login", json={"username": "carol", "password": "long-password"}
    )
    after = client.session.cookie_jar.filter_cookies(client.make_url("/"))["scx_session"].value
    assert login.status == 200
    assert after != before

    # The old cookie no longer works: no fixation, no replay.
    stale = await client.get("/api/user", cookies={"scx_session": before})
    assert stale.status == 401

    assert (await client.post("/api/logout")).status == 200
    replay = await client.get("/api/user", cookies={"scx_session": after})
    assert replay.status == 401


async def test_wrong_password_and_unknown_user_answer_alike(client: TestClient) -> None:
    await register(client, "dave", "long-password")
    await client.post("/api/logout")
    wrong = await client.post("/api/login", json={"username": "dave", "password": "nope-nope"})
    unknown = await client.post("/api/login", json={"username": "eve", "password": "nope-nope"})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json()) == (await unknown.json())


async def test_session_cookie_flags(client: TestClient) -> None:
    response = await client.post(
        "/api/register", json={"username": "frank", "password": "long-password"}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie


async def test_unauthenticated_user_is_401_json(client: TestClient) -> None:
    response = await client.get("/api/user")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "not_authenticated"


async def test_register_validation_names_the_field(client: TestClient) -> None:
    response = await client.post("/api/register", json={"username": "ok_name", "password": "1"})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["field"] == "password"


async def test_mass_assignment_is_refused(client: TestClient) -> None:
    response = await client.post(
        "/api/register",
        json={"username": "mallory", "password": "long-password", "plan": "enterprise"},
    )
    body = await response.json()
    assert response.status == 400
    assert body["error"]["field"] == "plan"


async def test_change_password_ends_other_sessions(client: TestClient, make_client) -> None:
    await register(client, "gina", "long-password")
    other = await make_client()
    await other.post("/api/login", json={"username": "gina", "password": "long-password"})
    assert (await other.get("/api/user")).status == 200

    response = await client.put(
        "/api/user/password",
        json={"currentPassword": "long-password", "newPassword": "another-password"},
    )
    assert response.status == 200
    assert (await response.json())["data"]["endedSessions"] == 1
    assert (await other.get("/api/user")).status == 401
    assert (await client.get("/api/user")).status == 200


async def test_the_link_code_stays_while_fresh_and_is_replaced_when_old_or_used(
    client: TestClient,
) -> None:
    from datetime import timedelta

    from core.models import TelegramLinkCode
    from core.services.accounts import now

    await register(client, "dilnoza")

    async def shown() -> str:
        response = await client.get("/api/user")
        assert response.status == 200
        return str((await response.json())["data"]["telegramLinkCode"])

    first = await shown()
    assert await shown() == first  # a reload shows the same working code
    await TelegramLinkCode.filter(code=first).update(expires_at=now() + timedelta(minutes=3))
    second = await shown()
    assert second != first
    assert not await TelegramLinkCode.filter(code=first).exists()  # the old one stops working
    await TelegramLinkCode.filter(code=second).update(used_at=now())
    assert await shown() not in {first, second}

"""Cookie sessions on top of aiohttp-session, with the server-side store of core.

The cookie carries a random key and nothing else. Login always issues a new key (no session
fixation), logout deletes the stored session, and a password change can end every other
session of the seller.
"""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, get_session, new_session

from core.errors import NotAuthenticated
from core.services.sessions import (
    TOUCH_INTERVAL,
    SessionBackend,
    SessionRecord,
    hash_key,
    new_key,
)
from core.settings import Settings

SELLER_ID = "seller_id"
KEY_HASH = web.RequestKey("scx.session_key_hash", str)
# What `new_key` makes: URL-safe base64 (older or future keys may differ in length only).
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")


def cookie_name(settings: Settings) -> str:
    # The __Host- prefix pins the cookie to this host, path / and HTTPS.
    return "__Host-scx_session" if settings.cookie_secure else "scx_session"


class ServerSideStorage(AbstractStorage):
    def __init__(self, backend: SessionBackend, settings: Settings) -> None:
        super().__init__(
            cookie_name=cookie_name(settings),
            max_age=settings.session_max_age,
            path="/",
            secure=settings.cookie_secure or None,
            httponly=True,
            samesite="Lax",
        )
        self.backend = backend
        self.idle_timeout = settings.session_idle_timeout
        self._secure = settings.cookie_secure

    async def load_session(self, request: web.Request) -> Session:
        key = self.load_cookie(request)
        if not key or _KEY_SHAPE.fullmatch(key) is None:
            # Not one of ours (corrupted, planted, not even UTF-8): as if there were none.
            return Session(None, data=None, new=True, max_age=self.max_age)
        key_hash = hash_key(key)
        record = await self.backend.load(key_hash)
        now = time.time()
        if record is None or not record.alive(now, self.idle_timeout):
            if record is not None:
                await self.backend.delete(key_hash)
            return Session(None, data=None, new=True, max_age=self.max_age)
        if now - record.last_seen > TOUCH_INTERVAL:
            record.last_seen = now
            await self.backend.touch(key_hash, record)
        request[KEY_HASH] = key_hash
        data = {SELLER_ID: record.seller_id, **record.data}
        return Session(key, data={"created": int(record.created), "session": data}, new=False)

    def save_cookie(
        self, response: web.StreamResponse, cookie_data: str, *, max_age: int | None = None
    ) -> None:
        if cookie_data:
            super().save_cookie(response, cookie_data, max_age=max_age)
            return
        # Browsers ignore a deletion of a __Host- cookie that is not itself Secure.
        response.del_cookie(
            self.cookie_name,
            path="/",
            secure=self._secure or None,
            httponly=True,
            samesite="Lax",
        )

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        if session.empty:
            if session.identity:
                await self.backend.delete(hash_key(str(session.identity)))
            self.save_cookie(response, "")
            return
        key = str(session.identity) if session.identity else new_key()
        now = time.time()
        values: dict[str, Any] = dict(session)
        seller_id = values.pop(SELLER_ID, None)
        record = SessionRecord(
            seller_id=seller_id,
            created=now if session.new else float(session.created),
            expires=(now if session.new else float(session.created)) + (self.max_age or 0),
            last_seen=now,
            data=values,
        )
        await self.backend.save(hash_key(key), record)
        remaining = max(1, int(record.expires - now))
        self.save_cookie(response, key, max_age=remaining)


def storage(request: web.Request) -> ServerSideStorage:
    from aiohttp_session import STORAGE_KEY

    value = request[STORAGE_KEY]
    assert isinstance(value, ServerSideStorage)
    return value


async def login(request: web.Request, seller_id: int) -> None:
    """Start a fresh session: any session the request came with is destroyed first."""
    old = await get_session(request)
    if old.identity:
        await storage(request).backend.delete(hash_key(str(old.identity)))
    session = await new_session(request)
    session[SELLER_ID] = seller_id


async def logout(request: web.Request, everywhere: bool = False) -> None:
    session = await get_session(request)
    seller_id = session.get(SELLER_ID)
    if everywhere and seller_id is not None:
        await storage(request).backend.delete_for_seller(int(seller_id))
    session.invalidate()


async def end_other_sessions(request: web.Request, seller_id: int) -> int:
    return await storage(request).backend.delete_for_seller(seller_id, keep=request.get(KEY_HASH))


async def seller_id(request: web.Request) -> int | None:
    session = await get_session(request)
    value = session.get(SELLER_ID)
    return int(value) if value is not None else None


async def require_seller_id(request: web.Request) -> int:
    value = await seller_id(request)
    if value is None:
        raise NotAuthenticated("log in first")
    return value

"""Local stand-ins for the gateways: a Payme client and a Click client that sign and send
real HTTP requests to the running app, exactly as Payme and Click would.

Both take anything with `request(method, url, **kwargs)`: an aiohttp `TestClient` (with a
path) or an `aiohttp.ClientSession` (with a full URL), so tests and `bench/` share them.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from core.settings import Settings

PAYME_KEY = "payme-test-key-3f9a1c"
CLICK_SECRET = "click-secret-7b2e"
CLICK_SERVICE_ID = "21301"
PAYME_PATH = "/api/payment/callback/payme"
CLICK_PREPARE_PATH = "/api/payment/callback/click/prepare"
CLICK_COMPLETE_PATH = "/api/payment/callback/click/complete"


# Anything with `request(method, url, **kwargs)`: aiohttp's TestClient or ClientSession.
Http = Any


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def basic_auth(key: str, login: str = "Paycom") -> str:
    return "Basic " + base64.b64encode(f"{login}:{key}".encode()).decode()


class PaymeClient:
    """Payme's side of the Merchant API: JSON-RPC with `Basic Paycom:KEY`."""

    def __init__(self, http: Http, key: str, url: str = PAYME_PATH) -> None:
        self.http = http
        self.key = key
        self.url = url
        self._ids = itertools.count(1)
        self._tx_ids = itertools.count(1)

    def new_id(self) -> str:
        """A Payme-like transaction id: 24 hex characters."""
        return f"{now_ms():013x}{next(self._tx_ids):011x}"[-24:]

    async def raw(
        self,
        body: bytes | str,
        *,
        authorization: str | None = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if authorization is not None:
            all_headers["Authorization"] = authorization
        async with self.http.request(method, self.url, data=body, headers=all_headers) as resp:
            assert resp.status == 200, f"Payme must always get HTTP 200, got {resp.status}"
            answer: dict[str, Any] = await resp.json()
            return answer

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        key: str | None = None,
        rpc_id: int | None = None,
        authorization: str | None = None,
    ) -> dict[str, Any]:
        payload = {
            "jsonrpc": "2.0",
            "id": rpc_id if rpc_id is not None else next(self._ids),
            "method": method,
            "params": params,
        }
        auth = authorization if authorization is not None else basic_auth(key or self.key)
        return await self.raw(json.dumps(payload), authorization=auth)

    async def check_perform(self, account: str, amount: int, **kw: Any) -> dict[str, Any]:
        params = {"amount": amount, "account": {"transaction_id": account}}
        return await self.call("CheckPerformTransaction", params, **kw)

    async def create(
        self, tx_id: str, account: str, amount: int, time: int | None = None, **kw: Any
    ) -> dict[str, Any]:
        params = {
            "id": tx_id,
            "time": time if time is not None else now_ms(),
            "amount": amount,
            "account": {"transaction_id": account},
        }
        return await self.call("CreateTransaction", params, **kw)

    async def perform(self, tx_id: str, **kw: Any) -> dict[str, Any]:
        return await self.call("PerformTransaction", {"id": tx_id}, **kw)

    async def cancel(self, tx_id: str, reason: int = 3, **kw: Any) -> dict[str, Any]:
        return await self.call("CancelTransaction", {"id": tx_id, "reason": reason}, **kw)

    async def check(self, tx_id: str, **kw: Any) -> dict[str, Any]:
        return await self.call("CheckTransaction", {"id": tx_id}, **kw)

    async def statement(self, start: int, end: int, **kw: Any) -> dict[str, Any]:
        return await self.call("GetStatement", {"from": start, "to": end}, **kw)

    async def change_password(self, password: str, **kw: Any) -> dict[str, Any]:
        return await self.call("ChangePassword", {"password": password}, **kw)


class ClickClient:
    """Click's side of SHOP-API: form-encoded Prepare and Complete signed with MD5."""

    def __init__(
        self,
        http: Http,
        secret: str,
        service_id: str,
        prepare_url: str = CLICK_PREPARE_PATH,
        complete_url: str = CLICK_COMPLETE_PATH,
    ) -> None:
        self.http = http
        self.secret = secret
        self.service_id = service_id
        self.prepare_url = prepare_url
        self.complete_url = complete_url
        self._trans_ids = itertools.count(now_ms() % 10_000_000 * 1000)

    def new_trans_id(self) -> str:
        return str(next(self._trans_ids))

    def sign(self, fields: dict[str, str]) -> str:
        parts = [
            fields["click_trans_id"],
            fields["service_id"],
            self.secret,
            fields["merchant_trans_id"],
        ]
        if "merchant_prepare_id" in fields:
            parts.append(fields["merchant_prepare_id"])
        parts += [fields["amount"], fields["action"], fields["sign_time"]]
        return hashlib.md5("".join(parts).encode()).hexdigest()

    def fields(
        self,
        action: int,
        click_trans_id: str,
        merchant_trans_id: str,
        amount: str,
        *,
        merchant_prepare_id: int | str | None = None,
        error: int = 0,
        service_id: str | None = None,
    ) -> dict[str, str]:
        fields = {
            "click_trans_id": click_trans_id,
            "service_id": service_id or self.service_id,
            "click_paydoc_id": str(int(click_trans_id) + 7),
            "merchant_trans_id": merchant_trans_id,
            "amount": amount,
            "action": str(action),
            "error": str(error),
            "error_note": "Success" if error == 0 else "Payment failed",
            "sign_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if merchant_prepare_id is not None:
            fields["merchant_prepare_id"] = str(merchant_prepare_id)
        fields["sign_string"] = self.sign(fields)
        return fields

    async def send(self, url: str, fields: dict[str, str]) -> dict[str, Any]:
        async with self.http.request("POST", url, data=fields) as resp:
            assert resp.status == 200, f"Click expects HTTP 200, got {resp.status}"
            answer: dict[str, Any] = await resp.json()
            return answer

    async def prepare(
        self, click_trans_id: str, merchant_trans_id: str, amount: str, **kw: Any
    ) -> dict[str, Any]:
        fields = self.fields(0, click_trans_id, merchant_trans_id, amount, **kw)
        return await self.send(self.prepare_url, fields)

    async def complete(
        self,
        click_trans_id: str,
        merchant_trans_id: str,
        amount: str,
        merchant_prepare_id: int | str | None,
        **kw: Any,
    ) -> dict[str, Any]:
        fields = self.fields(
            1,
            click_trans_id,
            merchant_trans_id,
            amount,
            merchant_prepare_id=merchant_prepare_id if merchant_prepare_id is not None else "",
            **kw,
        )
        return await self.send(self.complete_url, fields)


# --- the merchant configuration the tests run with ------------------------------------


def merchant_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "payme_merchant_id": "65f1a2b3c4d5e6f7a8b9c0d1",
            "payme_key": SecretStr(PAYME_KEY),
            "payme_checkout_url": "https://test.paycom.uz/",
            "click_service_id": CLICK_SERVICE_ID,
            "click_merchant_id": "11221",
            "click_secret_key": SecretStr(CLICK_SECRET),
            **extra,
        }
    )

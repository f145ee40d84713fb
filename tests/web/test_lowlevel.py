"""Requests too broken for aiohttp's parser, or for our reading of them: JSON all the same."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient


async def raw_exchange(client: TestClient, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; read the status line, the headers and the body."""
    assert client.server.host == "127.0.0.1"
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return status, headers, body


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def envelope(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"].startswith("application/json"), body
    answer: dict[str, Any] = json.loads(body)
    assert answer["success"] is False
    return answer


async def test_a_session_cookie_that_is_not_utf8_is_ignored(client: TestClient) -> None:
    for cookie in (b"scx_session=\xff", b"scx_session=\xed\xa0\x80", b"scx_session=a b;c"):
        status, _headers, body = await raw_exchange(
            client,
            b"GET /api/plans HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: "
            + cookie
            + b"\r\nConnection: close\r\n\r\n",
        )
        assert status == 200, body
        assert json.loads(body)["success"] is True


async def test_a_body_whose_encoding_does_not_decode_is_400_naming_the_body(
    client: TestClient,
) -> None:
    payload = b"abc"
    status, headers, body = await raw_exchange(
        client,
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: 3\r\nConnection: close\r\n\r\n" + payload,
    )
    answer = envelope(headers, body)
    assert status == 400
    assert answer["error"]["field"] == "body"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /api/plans HTTP/1.1\r\nHost: x\r\nX-Request-ID: abcdefgh\x01zz\r\n\r\n",
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Encoding: deflate\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        b"GET /api/plans HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    ],
)
async def test_what_the_parser_refuses_is_json_without_the_input_or_versions(
    client: TestClient, request_bytes: bytes
) -> None:
    status, headers, body = await raw_exchange(client, request_bytes)
    answer = envelope(headers, body)
    assert 400 <= status < 500
    assert headers["server"] == "SellerCloudX"
    assert b"abcdefgh" not in body and b"aaaa" not in body
    assert answer["error"]["code"]

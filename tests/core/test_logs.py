"""Log lines: secrets masked, and `key=value` pairs become JSON fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.logs import lift_pairs, redact, setup_logging


def test_pairs_become_fields_and_the_text_stays_readable() -> None:
    event = lift_pairs(None, "info", {"event": "order created id=7 seller=3 total=1500, ok"})
    assert event == {"event": "order created ok", "id": 7, "seller": 3, "total": 1500}


def test_reserved_and_existing_names_stay_in_the_text() -> None:
    event = lift_pairs(None, "info", {"event": "x level=9 request_id=a", "request_id": "r1"})
    assert event == {"event": "x level=9 request_id=a", "request_id": "r1"}
    assert lift_pairs(None, "info", {"event": "no pairs here"}) == {"event": "no pairs here"}


def test_secrets_are_masked_before_anything_else() -> None:
    assert redact("token=abc password=hunter2") == "token=<redacted> password=<redacted>"
    assert "<bot-token>" in redact("url /bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/getMe")


@pytest.fixture
def json_stream() -> Iterator[io.StringIO]:
    setup_logging("INFO", "json")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    setup_logging("INFO", "console")


def test_a_json_line_has_the_fields_and_no_secret(json_stream: io.StringIO) -> None:
    logging.getLogger("core.test").info(
        "payment refunded tx=%s seller=%s key=%s", "SUB-1-2", 3, "s3"
    )

    line = json.loads(json_stream.getvalue().strip().splitlines()[-1])

    assert line["event"] == "payment refunded"
    assert (line["tx"], line["seller"], line["key"]) == ("SUB-1-2", 3, "<redacted>")
    assert (line["level"], line["logger"]) == ("info", "core.test")


def test_a_traceback_quoting_a_token_is_masked(json_stream: io.StringIO) -> None:
    try:
        raise ConnectionError("GET /bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/getMe failed")
    except ConnectionError:
        logging.getLogger("core.test").exception("telegram unreachable")

    line = json.loads(json_stream.getvalue().strip().splitlines()[-1])

    assert "AAAAAAAAAAAA" not in line["exception"] and "<bot-token>" in line["exception"]

"""Logging set-up: stdlib loggers everywhere, rendered by structlog as console or JSON.

A redaction filter masks anything shaped like a bot token, a bearer token or a password
field, so that a careless log call cannot leak one.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SECRET_PATTERNS = (
    # Also inside URLs (`/bot123:ABC.../getMe`), where no word boundary precedes the id.
    (re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"), "<bot-token>"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1<redacted>"),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"), r"\1<redacted>"),
    (re.compile(r"(?i)(password|secret|token|key)=([^\s&,;]+)"), r"\1=<redacted>"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_values(
    logger: object, method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Mask secrets in every text of the line: the traceback and bound values included."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


# `key=value` in a log message (`"order created id=%s seller=%s"`): lifted into JSON fields.
_PAIR = re.compile(r"(?:^|\s)([a-z][a-z0-9_]*)=(\S*)")
_RESERVED = frozenset({"event", "level", "logger", "timestamp", "exception"})


def lift_pairs(
    logger: object, method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """`"order created id=7 seller=3"` -> event "order created", id 7, seller 3.

    The message stays readable in the console; in JSON every value is a field of its own that
    a log store can filter on. Numbers become numbers; reserved names stay in the text.
    """
    event = event_dict.get("event")
    if not isinstance(event, str) or "=" not in event:
        return event_dict
    lifted = False

    def take(match: re.Match[str]) -> str:
        nonlocal lifted
        key, value = match.group(1), match.group(2).rstrip(",;")
        if key in _RESERVED or key in event_dict:
            return match.group(0)
        event_dict[key] = int(value) if value.isascii() and value.isdigit() else value
        lifted = True
        return ""

    text = _PAIR.sub(take, event)
    if lifted:
        event_dict["event"] = " ".join(text.split()).rstrip(",;") or event
    return event_dict


def setup_logging(level: str = "INFO", fmt: str = "console") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # The traceback as text, so that what it quotes (a URL with a token) is masked too.
            structlog.processors.format_exc_info,
            redact_values,
            *([lift_pairs] if fmt == "json" else []),
            renderer,
        ],
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Framework chatter stays below our own lifecycle lines.
    for noisy in ("aiohttp.access", "tortoise", "aiosqlite", "asyncpg", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)

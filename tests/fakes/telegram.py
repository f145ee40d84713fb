"""A fake Telegram Bot API server on 127.0.0.1 for tests and benchmarks.

Point aiogram at it::

    async with FakeTelegramServer() as tg:
        session = AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url))
        bot = Bot("123456:TEST", session=session)

URLs are ``{base}/bot{token}/{method}`` and ``{base}/file/bot{token}/{path}``. Answers use
the Bot API shapes; errors are ``{"ok": false, "error_code", "description"[, "parameters"]}``.

Rate limits (sliding windows over accepted sends, sendMessage/Photo/Video/Document only):
``global_rate`` per second overall, ``chat_rate`` per second per chat and
``group_rate_per_minute`` per group chat (negative ids). ``scale`` multiplies every rate
(it divides the window lengths), so a benchmark can run at ten times Telegram's speed.
Edits, deletes and callback answers are not rate limited here. Rate knobs and ``scale`` are
read when the windows are built (at construction, per chat on first use); ``failure_rate``,
``latency``, ``blocked_chats`` and ``missing_chats`` may be changed at any time.

Helpers: ``push_update``, ``push_message``, ``push_callback_query`` queue updates for
getUpdates (long polls are cut at ``max_long_poll`` seconds and on ``stop()``);
``register_file`` stores bytes for getFile; ``deliver_webhook_updates`` posts the queue to
the webhook URL with the secret-token header.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import mimetypes
import random
import re
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Self

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_TEXT = 200
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "sendvideo", "senddocument"})
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "entities",
        "caption_entities",
        "allowed_updates",
        "scope",
        "link_preview_options",
        "reply_parameters",
    }
)
_TOKEN_RE = re.compile(r"^\d+:[\w-]+$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_HTML_TAGS = frozenset(
    {
        "a", "b", "blockquote", "code", "del", "em", "i", "ins", "pre", "s", "span",
        "strike", "strong", "tg-emoji", "tg-spoiler", "u",
    }
)  # fmt: skip
_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

Params = dict[str, Any]
Handler = Callable[[Params, dict[str, Any]], Awaitable[Any]]


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and retry_after."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


@dataclass
class RecordedRequest:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    api_method: str | None
    params: Params
    time: float


@dataclass
class UploadedFile:
    """A multipart file field."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass
class StoredFile:
    """A file the fake can serve through getFile and the file URL."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


@dataclass
class SentMessage:
    """One accepted send: text is the text or caption as the client sent it."""

    chat_id: int
    message_id: int
    text: str | None
    reply_markup: Any
    method: str
    parse_mode: str | None = None


@dataclass
class TelegramStats:
    """Counters; rates are accepted sends in any 1 s of wall time (not scaled)."""

    requests: int = 0
    sent: int = 0
    rate_limited: int = 0
    errors: int = 0
    max_rate: int = 0
    max_chat_rate: int = 0
    chat_max_rate: dict[int, int] = field(default_factory=dict)


class SlidingWindow:
    """Admits at most ``capacity`` events in any ``period`` seconds."""

    def __init__(self, capacity: int, period: float) -> None:
        self.capacity = capacity
        self.period = period
        self._times: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Seconds until one more event fits; 0 when it fits now."""
        self._expire(now)
        if len(self._times) < self.capacity:
            return 0.0
        return self._times[0] + self.period - now

    def add(self, now: float) -> int:
        """Record an event; return how many events the window now holds."""
        self._expire(now)
        self._times.append(now)
        return len(self._times)

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()


class _TelegramHtml(HTMLParser):
    """Reduces Bot API HTML to plain text and rejects markup Telegram rejects."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise ValueError(f'Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise ValueError(f'Unsupported start tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise ValueError(f'Unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data:
            raise ValueError('Unexpected character "<"')
        self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        # Telegram knows only four named entities; others stay literal text here.
        self.parts.append(_HTML_ENTITIES.get(name, "&" + name))

    def handle_charref(self, name: str) -> None:
        base = 16 if name[:1] in ("x", "X") else 10
        self.parts.append(chr(int(name.lstrip("xX"), base)))

    def handle_comment(self, data: str) -> None:
        raise ValueError("Unsupported comment")

    def handle_decl(self, decl: str) -> None:
        raise ValueError("Unsupported declaration")


def render_text(text: str, parse_mode: str | None) -> str:
    """Return the text Telegram would store: HTML is checked and stripped of tags."""
    if (parse_mode or "").lower() != "html":
        return text
    parser = _TelegramHtml()
    try:
        parser.feed(text)
        parser.close()
    except ValueError as exc:
        raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
    if parser.stack:
        detail = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
        raise ApiError(400, f"Bad Request: can't parse entities: {detail}")
    return "".join(parser.parts)


def utf16_length(text: str) -> int:
    """Telegram counts lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _json_field(key: str, value: str) -> Any:
    if key not in JSON_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_params(request: web.Request) -> Params:
    """Merge query, form/multipart or JSON body; decode JSON-valued form fields."""
    params: Params = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            params[key] = _json_field(key, str(value))
    return params


def _int_param(params: Params, name: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: {name} is invalid") from None


def _mime_type(upload: UploadedFile | None) -> str:
    """Telegram derives the MIME type from the file name, as aiogram sends octet-stream."""
    guessed = mimetypes.guess_type(upload.filename or "")[0] if upload else None
    return guessed or "application/octet-stream"


def _flag(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _inline_markup(params: Params) -> dict[str, Any] | None:
    """The reply_markup a Message echoes: only inline keyboards are echoed."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return markup if "inline_keyboard" in markup else None


class FakeTelegramServer:
    """A Bot API lookalike that records requests and enforces Telegram's send limits."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_username: str = "fake_test_bot",
        global_rate: int = 30,
        chat_rate: int = 1,
        group_rate_per_minute: int = 20,
        scale: float = 1.0,
        failure_rate: float = 0.0,
        failure_statuses: tuple[int, ...] = (500, 429),
        failure_methods: frozenset[str] = SEND_METHODS,
        seed: int = 0,
        latency: float = 0.0,
        max_long_poll: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.global_rate = global_rate
        self.chat_rate = chat_rate
        self.group_rate_per_minute = group_rate_per_minute
        self.scale = scale
        self.failure_rate = failure_rate
        self.failure_statuses = failure_statuses
        self.failure_methods = failure_methods
        self.latency = latency
        self.max_long_poll = max_long_poll
        self.clock = clock
        self.rng = random.Random(seed)

        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.sent_messages: list[SentMessage] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.deleted_messages: list[tuple[int, int]] = []
        self.answered_callbacks: list[Params] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: dict[str, StoredFile] = {}
        self.updates: list[dict[str, Any]] = []
        self.webhook: Params | None = None
        self.blocked_chats: set[int] = set()
        self.missing_chats: set[int] = set()
        self.stats = TelegramStats()

        self._runner: web.AppRunner | None = None
        self._last_message_id: dict[int, int] = {}
        self._next_update_id = 1
        self._file_counter = 0
        self._update_event = asyncio.Event()
        self._closing = False
        self._global_window = SlidingWindow(global_rate, 1.0 / scale)
        self._chat_windows: dict[int, SlidingWindow] = {}
        self._group_windows: dict[int, SlidingWindow] = {}
        self._global_meter = SlidingWindow(sys.maxsize, 1.0)
        self._chat_meters: dict[int, SlidingWindow] = {}
        self._handlers = self._method_table()

    def _method_table(self) -> dict[str, Handler]:
        """Bot API methods by lower-cased name (Telegram matches names case-insensitively)."""
        return {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "sendvideo": self._send_video,
            "senddocument": self._send_document,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "getfile": self._get_file,
        }

    # ----- lifecycle -----

    async def start(self) -> str:
        """Bind 127.0.0.1 on a free port and return the base URL."""
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, shutdown_timeout=1.0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        logger.debug("fake telegram listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        self._closing = True
        self._update_event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----- test helpers -----

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; assigns update_id when it is missing."""
        update = dict(update)
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self.updates.append(update)
        self._update_event.set()
        return int(update["update_id"])

    def push_message(self, chat_id: int, text: str, *, first_name: str = "Tester") -> int:
        """Queue a private-chat text message from user ``chat_id``."""
        user = {"id": chat_id, "is_bot": False, "first_name": first_name}
        message = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push_update({"message": message})

    def push_callback_query(self, chat_id: int, data: str, message_id: int) -> int:
        """Queue a button press on a message the bot sent to ``chat_id``."""
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        query = {
            "id": f"{chat_id}{self._next_update_id:06d}",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Tester"},
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def register_file(self, data: bytes, *, kind: str = "photos", ext: str = "jpg") -> str:
        """Store bytes servable by getFile and the file URL; return the file_id."""
        self._file_counter += 1
        number = self._file_counter
        stored = StoredFile(
            file_id=f"FAKEFILE{number:06d}",
            file_unique_id=f"FAKEUNIQ{number:06d}",
            file_path=f"{kind}/file_{number}.{ext}",
            data=data,
        )
        self.files[stored.file_id] = stored
        return stored.file_id

    async def deliver_webhook_updates(self) -> list[int]:
        """POST queued updates to the webhook URL; keep those not answered with 2xx."""
        if self.webhook is None:
            raise RuntimeError("no webhook set")
        headers = {}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
        statuses: list[int] = []
        async with aiohttp.ClientSession(headers=headers) as session:
            for update in list(self.updates):
                async with session.post(self.webhook["url"], json=update) as resp:
                    statuses.append(resp.status)
                if 200 <= resp.status < 300:
                    self.updates.remove(update)
        return statuses

    # ----- HTTP layer -----

    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        entry = self._record(request, name)
        try:
            entry.params = params = await read_params(request)
            bot = self._check_token(request.match_info["token"])
            handler = self._handlers.get(name.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            await self._delay()
            self._maybe_fail(name.lower())
            result = await handler(params, bot)
        except ApiError as exc:
            return self._error(name, exc)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        self._record(request, None).params = dict(request.query)
        try:
            self._check_token(request.match_info["token"])
        except ApiError as exc:
            return self._error("file", exc)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return self._error("file", ApiError(404, "Not Found"))

    def _record(self, request: web.Request, name: str | None) -> RecordedRequest:
        self.stats.requests += 1
        entry = RecordedRequest(request.method, request.path, name, {}, self.clock())
        self.requests.append(entry)
        logger.debug("fake telegram %s %s", request.method, name or request.path)
        return entry

    def _error(self, name: str, exc: ApiError) -> web.Response:
        if exc.status == 429:
            self.stats.rate_limited += 1
        else:
            self.stats.errors += 1
        logger.debug("fake telegram %s -> %s %s", name, exc.status, exc.description)
        return web.json_response(exc.body(), status=exc.status)

    def _check_token(self, token: str) -> dict[str, Any]:
        if not _TOKEN_RE.match(token):
            raise ApiError(404, "Not Found")
        if self.token is not None and token != self.token:
            raise ApiError(401, "Unauthorized")
        return self._bot_user(int(token.split(":")[0]))

    async def _delay(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    def _maybe_fail(self, name: str) -> None:
        if name not in self.failure_methods or self.rng.random() >= self.failure_rate:
            return
        status = self.rng.choice(self.failure_statuses)
        if status == 429:
            raise too_many_requests(1)
        raise ApiError(status, "Internal Server Error")

    # ----- shapes -----

    def _bot_user(self, bot_id: int) -> dict[str, Any]:
        return {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Fake Bot",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    @staticmethod
    def _chat(chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": f"Group {-chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _new_message(self, chat_id: int, bot: dict[str, Any], params: Params) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": bot,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        markup = _inline_markup(params)
        if markup is not None:
            message["reply_markup"] = markup
        return message

    # ----- chats and limits -----

    def _target_chat(self, params: Params) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id in self.missing_chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _windows(self, chat_id: int) -> list[SlidingWindow]:
        windows = [self._global_window]
        if chat_id not in self._chat_windows:
            self._chat_windows[chat_id] = SlidingWindow(self.chat_rate, 1.0 / self.scale)
        windows.append(self._chat_windows[chat_id])
        if chat_id < 0:
            if chat_id not in self._group_windows:
                period = 60.0 / self.scale
                self._group_windows[chat_id] = SlidingWindow(self.group_rate_per_minute, period)
            windows.append(self._group_windows[chat_id])
        return windows

    def _admit(self, chat_id: int) -> None:
        """Raise 429 when a send to ``chat_id`` would exceed a limit; else count it."""
        now = self.clock()
        windows = self._windows(chat_id)
        wait = max(window.wait_time(now) for window in windows)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        for window in windows:
            window.add(now)
        self._observe(chat_id, now)

    def _observe(self, chat_id: int, now: float) -> None:
        self.stats.sent += 1
        self.stats.max_rate = max(self.stats.max_rate, self._global_meter.add(now))
        meter = self._chat_meters.setdefault(chat_id, SlidingWindow(sys.maxsize, 1.0))
        rate = meter.add(now)
        per_chat = self.stats.chat_max_rate
        per_chat[chat_id] = max(per_chat.get(chat_id, 0), rate)
        self.stats.max_chat_rate = max(self.stats.max_chat_rate, rate)

    def _remember(self, method: str, message: dict[str, Any], params: Params) -> None:
        chat_id = message["chat"]["id"]
        self.messages[(chat_id, message["message_id"])] = message
        sent = SentMessage(
            chat_id=chat_id,
            message_id=message["message_id"],
            text=params.get("text", params.get("caption")),
            reply_markup=params.get("reply_markup"),
            method=method,
            parse_mode=params.get("parse_mode"),
        )
        self.sent_messages.append(sent)

    # ----- methods: sending -----

    async def _get_me(self, params: Params, bot: dict[str, Any]) -> Any:
        return bot

    async def _send_message(self, params: Params, bot: dict[str, Any]) -> Any:
        chat_id = self._target_chat(params)
        text = render_text(str(params.get("text") or ""), params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_length(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        self._admit(chat_id)
        message = self._new_message(chat_id, bot, params)
        message["text"] = text
        self._remember("sendMessage", message, params)
        return message

    async def _send_photo(self, params: Params, bot: dict[str, Any]) -> Any:
        message, stored = self._send_media(params, bot, "photo", "photos/jpg")
        size = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "width": 1280,
            "height": 720,
        }
        message["photo"] = [size]
        self._remember("sendPhoto", message, params)
        return message

    async def _send_video(self, params: Params, bot: dict[str, Any]) -> Any:
        message, stored = self._send_media(params, bot, "video", "videos/mp4")
        message["video"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "width": int(params.get("width") or 1280),
            "height": int(params.get("height") or 720),
            "duration": int(params.get("duration") or 1),
            "mime_type": "video/mp4",
        }
        self._remember("sendVideo", message, params)
        return message

    async def _send_document(self, params: Params, bot: dict[str, Any]) -> Any:
        message, stored = self._send_media(params, bot, "document", "documents/bin")
        upload = self._upload(params, "document")
        message["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_name": upload.filename if upload else stored.file_path.rsplit("/", 1)[-1],
            "mime_type": _mime_type(upload),
        }
        self._remember("sendDocument", message, params)
        return message

    def _send_media(
        self, params: Params, bot: dict[str, Any], field_name: str, storage: str
    ) -> tuple[dict[str, Any], StoredFile]:
        """Validate chat, file and caption, apply limits; return the message and its file.

        ``storage`` is "kind/extension" of the path an upload is stored under.
        """
        chat_id = self._target_chat(params)
        stored = self._media_file(params, field_name, storage)
        caption = render_text(str(params.get("caption") or ""), params.get("parse_mode"))
        if utf16_length(caption) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        self._admit(chat_id)
        message = self._new_message(chat_id, bot, params)
        if caption:
            message["caption"] = caption
        return message, stored

    def _upload(self, params: Params, field_name: str) -> UploadedFile | None:
        value = params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        return value if isinstance(value, UploadedFile) else None

    def _media_file(self, params: Params, field_name: str, storage: str) -> StoredFile:
        """Resolve an upload, a known file_id or a URL to a stored file."""
        kind, ext = storage.split("/")
        upload = self._upload(params, field_name)
        if upload is not None:
            return self.files[self.register_file(upload.data, kind=kind, ext=ext)]
        value = str(params.get(field_name) or "")
        if not value:
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            return self.files[self.register_file(b"", kind=kind, ext=ext)]
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # ----- methods: editing -----

    def _stored_message(self, params: Params, action: str) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        message_id = _int_param(params, "message_id")
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(400, f"Bad Request: message to {action} not found")
        return message

    async def _edit_message_text(self, params: Params, bot: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._stored_message(params, "edit")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = render_text(str(params.get("text") or ""), params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_length(text) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return self._apply_edit(message, text, _inline_markup(params))

    async def _edit_message_reply_markup(self, params: Params, bot: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._stored_message(params, "edit")
        return self._apply_edit(message, message.get("text"), _inline_markup(params))

    def _apply_edit(
        self, message: dict[str, Any], text: str | None, markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        if text is not None:
            message["text"] = text
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _delete_message(self, params: Params, bot: dict[str, Any]) -> Any:
        message = self._stored_message(params, "delete")
        key = (message["chat"]["id"], message["message_id"])
        del self.messages[key]
        self.deleted_messages.append(key)
        return True

    async def _answer_callback_query(self, params: Params, bot: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        if len(str(params.get("text") or "")) > MAX_CALLBACK_TEXT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.answered_callbacks.append(params)
        return True

    # ----- methods: updates and webhook -----

    async def _set_webhook(self, params: Params, bot: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            self.webhook = None
        elif not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        else:
            self.webhook = dict(params)
        if _flag(params.get("drop_pending_updates")):
            self.updates.clear()
        return True

    async def _delete_webhook(self, params: Params, bot: dict[str, Any]) -> Any:
        self.webhook = None
        if _flag(params.get("drop_pending_updates")):
            self.updates.clear()
        return True

    async def _get_webhook_info(self, params: Params, bot: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if self.webhook:
            info["max_connections"] = int(self.webhook.get("max_connections") or 40)
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _get_updates(self, params: Params, bot: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._confirm_updates(int(params.get("offset") or 0))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), self.max_long_poll)
        await self._wait_for_updates(timeout)
        return self.updates[:limit]

    def _confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    async def _wait_for_updates(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._update_event.clear()
            try:
                await asyncio.wait_for(self._update_event.wait(), remaining)
            except TimeoutError:
                return

    # ----- methods: commands and files -----

    async def _set_my_commands(self, params: Params, bot: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: Params, bot: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(params), [])

    @staticmethod
    def _commands_key(params: Params) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _get_file(self, params: Params, bot: dict[str, Any]) -> Any:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

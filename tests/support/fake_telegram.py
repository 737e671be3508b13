"""A protocol-faithful fake Telegram Bot API server for end-to-end tests of our bot.

It listens on 127.0.0.1 (ephemeral port) in the test's event loop and speaks the Bot API
(https://core.telegram.org/bots/api) well enough for the real python-telegram-bot to run
against it, in polling or webhook mode. Tests play users; the fake records every call::

    async with FakeTelegram() as fake:
        app = (Application.builder().token(fake.token).base_url(fake.base_url)
               .base_file_url(fake.base_file_url).build())
        ...  # start the app (polling or webhook)
        alice = fake.user(1001)
        fake.send_text(alice, "/start")
        [call] = await fake.wait_for("sendMessage")
        assert fake.messages_in(alice)[-1]["text"] == "Welcome!"

Methods are reached at ``{base_url}{token}/{method}`` (GET or POST; query string, JSON,
urlencoded or multipart bodies; names case-insensitive) and files at
``{base_file_url}{token}/{file_path}``. Every answer is ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code", "description"[, "parameters"]}`` with the same HTTP status.
A wrong but well-formed token gets 401 Unauthorized, a malformed one 404 Not Found, as on the
real server. The parts live in: ``fake_telegram_methods`` (bot methods), ``fake_telegram_users``
(playing users, privacy mode), ``fake_telegram_updates`` (getUpdates, webhooks),
``fake_telegram_objects`` (shapes, files, limits) and ``fake_telegram_format`` (parse modes).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, web

from tests.support.fake_telegram_objects import (
    JSON,
    MAX_UPLOAD_BYTES,
    ApiError,
    FakeChat,
    FakeUser,
    Upload,
    attach_uploads,
    bad,
    coerce_params,
    plain,
)
from tests.support.fake_telegram_payments import PaymentPlay
from tests.support.fake_telegram_updates import SECRET_HEADER, Delivery, Described, UpdateDelivery

__all__ = ["SECRET_HEADER", "ApiError", "Call", "Delivery", "FakeChat", "FakeTelegram", "FakeUser",
           "Upload"]

TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{35}")


@dataclass
class Call:
    """One Bot API method call as the fake received and answered it."""

    name: str  # canonical method name, e.g. "sendMessage" (as sent if unknown)
    params: JSON  # parsed and typed; uploaded files as bytes (also in media items)
    time: float
    status: int = 200
    result: Any = None
    error: str | None = None  # the description of an error answer
    files: dict[str, Upload] = field(default_factory=dict)  # multipart file parts by name
    source: str = "http"  # or "webhook_reply": a method returned in a webhook's answer

    @property
    def ok(self) -> bool:
        return self.status == 200



class FakeTelegram(PaymentPlay, UpdateDelivery):
    """The fake server plus the users and chats that tests play. See the module docstring."""

    def __init__(self, token: str | None = None, *, username: str = "stationthis_test_bot",
                 flood_after: int | None = None, webhook_retry_delay: float = 0.2,
                 webhook_max_attempts: int = 5, webhook_timeout: float = 10.0) -> None:
        bot_id = int(token.split(":")[0]) if token else 7_000_000_000 + secrets.randbelow(10**8)
        self.token = token or f"{bot_id}:AA{secrets.token_urlsafe(33)[:33]}"
        super().__init__({
            "id": bot_id, "is_bot": True, "first_name": "StationThis Test", "username": username,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False,
            "has_main_web_app": False})
        self.flood_after = flood_after
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_max_attempts = webhook_max_attempts
        self.webhook_timeout = webhook_timeout
        self.calls: list[Call] = []
        self.downloads: list[str] = []  # file paths bots downloaded
        self.port = 0
        self._faults: list[tuple[str, ApiError]] = []
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, Callable[[JSON], Any]]] = {
            name[4:].lower(): (name[4:], getattr(self, name))
            for name in dir(self) if name.startswith("api_")}

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 16 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._on_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._on_file)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        await self._stop_webhook_worker()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._session = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- inspection -----------------------------------------------------------------------
    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.name.lower() == method.lower()]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                       predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """All calls of ``method`` (matching ``predicate``) once there are ``count`` of them."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            matching = [c for c in self.calls_of(method) if predicate is None or predicate(c)]
            if len(matching) >= count:
                return matching
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                recent = ", ".join(f"{c.name}:{c.status}" for c in self.calls[-10:])
                raise TimeoutError(f"waited {timeout}s for {count} {method} call(s), saw "
                                   f"{len(matching)}; last calls: [{recent}]")
            await self._wait_changed(remaining)


    def file_bytes(self, file_id: str) -> bytes:
        stored = self.files.get(file_id)
        if stored is None:
            raise KeyError(f"unknown file_id {file_id!r}")
        return stored.data

    def photo_bytes(self, message: JSON) -> bytes:
        """The bytes of the largest size of a photo message (the uploaded original)."""
        return self.file_bytes(message["photo"][-1]["file_id"])


    def fail_next(self, method: str, code: int = 500, description: str = "Internal Server Error",
                  *, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with this error instead."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        self._faults.extend([(method.lower(), ApiError(code, description, parameters))] * times)


    # ---- HTTP -----------------------------------------------------------------------------
    async def _read(self, request: web.Request) -> tuple[JSON, dict[str, Upload]]:
        params: JSON = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.content_type == "application/json":
            body = await request.read()
            try:
                data = json.loads(body) if body.strip() else {}
            except ValueError:
                raise bad("can't parse JSON encoded request") from None
            if not isinstance(data, dict):
                raise bad("JSON object expected")
            params.update(data)
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    uploads[part.name] = Upload(part.filename, part.headers.get(
                        "Content-Type"), bytes(await part.read()))
                else:
                    params[part.name] = await part.text()
            if sum(len(u.data) for u in uploads.values()) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
        elif request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        coerce_params(params)
        attach_uploads(params, uploads)
        return params, uploads

    async def _on_method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params, uploads = await self._read(request)
            refused = None
        except ApiError as error:
            params, uploads, refused = {}, {}, error
        if token != self.token:
            refused = ApiError(401, "Unauthorized") if TOKEN_RE.fullmatch(token) else \
                ApiError(404, "Not Found")
        payload = await self._dispatch(method, params, uploads, refused=refused)
        return web.json_response(payload, status=payload.get("error_code", 200))

    async def _dispatch(self, method: str, params: JSON, uploads: dict[str, Upload], *,
                        source: str = "http", refused: ApiError | None = None) -> JSON:
        entry = self._methods.get(method.lower())
        call = Call(entry[0] if entry else method, plain(params), time.time(),
                    files=dict(uploads), source=source)
        try:
            if refused is not None:
                raise refused
            fault = next((f for f in self._faults if f[0] == method.lower()), None)
            if fault is not None:
                self._faults.remove(fault)
                raise fault[1]
            if entry is None:
                raise ApiError(404, "Not Found")
            result = await entry[1](params)
            payload: JSON = {"ok": True}
            if isinstance(result, Described):
                payload["description"] = result.description
                result = result.result
            payload["result"] = result
            call.result = copy.deepcopy(result)
        except ApiError as error:
            payload = error.payload()
            call.status, call.error = error.code, error.description
        except asyncio.CancelledError:
            call.status, call.error = 499, "the client went away before the answer"
            raise
        finally:
            self.calls.append(call)
            self._notify()
        return payload

    async def _on_file(self, request: web.Request) -> web.Response:
        stored = self.files.by_path(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"},
                                     status=404)
        self.downloads.append(request.match_info["path"])
        return web.Response(body=stored.data,
                            content_type=stored.mime_type or "application/octet-stream")

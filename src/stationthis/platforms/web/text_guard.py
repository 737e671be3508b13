"""Text that enters the web app must be valid Unicode (``core/text.py``): refused here, once,
before any route decodes it.

- every query string: its percent-decoded bytes must be UTF-8 (Starlette would silently
  turn bad bytes into U+FFFD);
- a JSON body sent to the REST API (``/api/v1``): UTF-8, and no string or key in it may hold
  a lone surrogate (``json.loads`` makes one from a ``"\\ud800"`` escape);
- a posted form (``application/x-www-form-urlencoded``, the pages' forms): its
  percent-decoded names and values must be UTF-8.

A refusal is a 400 in the one error shape (code ``invalid_text``). Multipart bodies (file
uploads) are not read here: Starlette decodes their text fields as UTF-8 or else Latin-1,
which never yields a surrogate. The Telegram and Discord endpoints check their updates
themselves, to answer the user in the chat. Sits inside ``BodyLimit``: a body is only read
when it is within the limit."""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stationthis.core.text import NOT_UTF8, invalid_text
from stationthis.platforms.web.errors import error_response

API = "/api/v1/"
FORM = "application/x-www-form-urlencoded"


class TextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _query_problem(scope.get("query_string", b""))
        kind = _body_kind(scope)
        if problem is None and kind is not None:
            try:
                body, receive = await _buffered(receive)
            except HTTPException as exc:  # BodyLimit's 413 on a chunked body
                code = "too_large" if exc.status_code == 413 else "bad_request"
                await error_response(exc.status_code, code, str(exc.detail))(
                    scope, receive, send)
                return
            problem = _json_problem(body) if kind == "json" else _form_problem(body)
        if problem is not None:
            await error_response(400, "invalid_text", problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _body_kind(scope: Scope) -> str | None:
    """"json" or "form" for a body this guard reads; None for any other."""
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return None
    content_type = b""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            content_type = value
    media = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    if media == FORM:
        return "form"
    if scope["path"].startswith(API) and media.startswith("application/") and (
            media == "application/json" or media.endswith("+json")):
        return "json"
    return None


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that hands it to the app as one message."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # disconnected: the app sees an empty body and then the disconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _query_problem(query: bytes) -> str | None:
    return _percent_problem(query) if query else None


def _form_problem(body: bytes) -> str | None:
    return _percent_problem(body)


def _percent_problem(encoded: bytes) -> str | None:
    """A query string or a urlencoded form: each name and value, percent-decoded, is UTF-8."""
    try:
        unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    return None


def _json_problem(body: bytes) -> str | None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    if b"\\u" not in body and json.detect_encoding(body).startswith("utf-8"):
        return None  # valid UTF-8 without escapes cannot hold a surrogate
    try:
        data = json.loads(body)  # exactly as FastAPI will decode it
    except ValueError:
        return None  # not JSON: the route answers that itself
    return invalid_text(data)

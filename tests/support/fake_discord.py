"""A fake of the parts of Discord's REST API that StationThis uses, on loopback, for tests.

Routes (written from Discord's documentation): ``PATCH|DELETE
/webhooks/{app}/{token}/messages/@original``, ``POST /webhooks/{app}/{token}`` (follow-ups) —
authorised by the interaction token, 401 once a token is ``expire``d —, ``POST
/channels/{id}/messages``, ``POST /users/@me/channels`` and ``PUT
/applications/{app}[/guilds/{g}]/commands`` — behind ``Authorization: Bot <token>`` —, and
``GET /attachments/{name}`` serving what ``attach`` put there (Discord's CDN).

JSON bodies and multipart bodies (``payload_json`` + ``files[n]``) are both parsed; every
call lands in ``calls`` with its files. ``messages`` holds each message's latest state.
``rate_limit_once(method, fragment, retry_after)`` answers the next matching call with 429.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fake_discord_wire import Call, read_body, serve


@dataclass
class Message:
    id: str
    channel: str
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes
    flags: int = 0
    deleted: bool = False
    edits: int = 0

    def custom_ids(self) -> list[str]:
        found = []
        for line in self.components:
            for c in line.get("components") or []:
                if "custom_id" in c:
                    found.append(str(c["custom_id"]))
        return found


class FakeDiscord:
    def __init__(self, application_id: str, bot_token: str) -> None:
        self.application_id = application_id
        self.bot_token = bot_token
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.originals: dict[str, str] = {}  # interaction token -> message id
        self.followups: dict[str, list[str]] = {}  # interaction token -> message ids
        self.channel_messages: dict[str, list[str]] = {}  # channel -> message ids
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> list
        self.cdn: dict[str, tuple[bytes, str]] = {}
        self.expired: set[str] = set()
        self._limits: list[tuple[str, str, float]] = []
        self._ids = itertools.count(10_000)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ----- knobs ------------------------------------------------------------------------------

    def attach(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        """Put a file on the fake CDN; returns its URL."""
        self.cdn[name] = (data, content_type)
        return f"{self.base_url}/attachments/{name}"

    def expire(self, token: str) -> None:
        self.expired.add(token)

    def rate_limit_once(self, method: str, fragment: str, retry_after: float = 0.05) -> None:
        self._limits.append((method, fragment, retry_after))

    # ----- reading what happened --------------------------------------------------------------

    def original(self, token: str) -> Message | None:
        found = self.originals.get(token)
        return self.messages[found] if found else None

    def calls_to(self, method: str, fragment: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    def channel(self, channel: str) -> list[Message]:
        return [self.messages[m] for m in self.channel_messages.get(channel, [])]

    # ----- serving ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner, self.base_url = await serve(app)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        if request.method == "GET" and path.startswith("/attachments/"):
            found = self.cdn.get(path.rsplit("/", 1)[1])
            if found is None:
                return web.json_response({"message": "404: Not Found"}, status=404)
            return web.Response(body=found[0], content_type=found[1])
        payload, files = await read_body(request)
        call = Call(request.method, path, payload, files, request.headers.get("Authorization"),
                    request.headers.get("Content-Type", ""))
        self.calls.append(call)
        for n, (method, fragment, after) in enumerate(self._limits):
            if method == request.method and fragment in path:
                del self._limits[n]
                call.status = 429
                return web.json_response({"message": "You are being rate limited.",
                                          "retry_after": after, "global": False}, status=429)
        response = self._route(request.method, path, call)
        call.status = response.status
        return response

    def _route(self, method: str, path: str, call: Call) -> web.Response:
        parts = path.strip("/").split("/")
        if parts[0] == "webhooks" and len(parts) >= 3:
            if parts[1] != self.application_id:
                return _error(404, "Unknown Webhook", 10015)
            token = parts[2]
            if token in self.expired:
                return _error(401, "Invalid Webhook Token", 50027)
            if parts[3:] == ["messages", "@original"]:
                return self._original(method, token, call)
            if len(parts) == 3 and method == "POST":
                return self._followup(token, call)
            return _error(405, "405: Method Not Allowed", 0)
        if call.authorization != f"Bot {self.bot_token}":
            return _error(401, "401: Unauthorized", 0)
        if parts[:1] == ["channels"] and parts[2:] == ["messages"] and method == "POST":
            message = self._new(parts[1], call)
            self.channel_messages.setdefault(parts[1], []).append(message.id)
            return web.json_response(_json(message))
        if path == "/users/@me/channels" and method == "POST":
            recipient = str((call.payload or {}).get("recipient_id"))
            return web.json_response({"id": f"dm-{recipient}", "type": 1})
        if parts[:2] == ["applications", self.application_id] and parts[-1] == "commands":
            if method != "PUT" or not isinstance(call.payload, list):
                return _error(400, "Invalid Form Body", 50035)
            scope = parts[3] if len(parts) == 5 and parts[2] == "guilds" else "global"
            problem = _check_commands(call.payload)
            if problem:
                return _error(400, f"Invalid Form Body: {problem}", 50035)
            self.commands[scope] = [{**c, "id": str(next(self._ids)),
                                     "application_id": self.application_id}
                                    for c in call.payload]
            return web.json_response(self.commands[scope])
        return _error(404, "404: Not Found", 0)

    def _original(self, method: str, token: str, call: Call) -> web.Response:
        found = self.original(token)
        if found is None:  # the deferred response created it
            found = Message(str(next(self._ids)), "interaction")
            self.messages[found.id] = found
            self.originals[token] = found.id
        if method == "DELETE":
            found.deleted = True
            return web.Response(status=204)
        if method == "GET":
            return web.json_response(_json(found))
        if method != "PATCH":
            return _error(405, "405: Method Not Allowed", 0)
        problem = _apply(found, call)
        if problem:
            return _error(400, problem, 50035)
        found.edits += 1
        return web.json_response(_json(found))

    def _followup(self, token: str, call: Call) -> web.Response:
        message = self._new("interaction", call)
        self.followups.setdefault(token, []).append(message.id)
        return web.json_response(_json(message))

    def _new(self, channel: str, call: Call) -> Message:
        message = Message(str(next(self._ids)), channel)
        self.messages[message.id] = message
        problem = _apply(message, call)
        if problem:
            message.content = f"INVALID: {problem}"
        return message


def _apply(message: Message, call: Call) -> str | None:
    """Apply a message body as Discord does; a reason when Discord would refuse it."""
    body = call.payload if isinstance(call.payload, dict) else {}
    if len(str(body.get("content") or "")) > 2000:
        return "content over 2000 characters"
    if len(call.files) > 10:
        return "more than 10 attachments"
    for line in body.get("components") or []:
        if len(line.get("components") or []) > 5:
            return "more than 5 components in a row"
        for c in line.get("components") or []:
            if len(str(c.get("custom_id") or "")) > 100:
                return "custom_id over 100 characters"
    if len(body.get("components") or []) > 5:
        return "more than 5 action rows"
    for key in ("content", "embeds", "components"):
        if key in body:
            setattr(message, key, body[key] or ([] if key != "content" else ""))
    if "flags" in body:
        message.flags = int(body["flags"])
    if call.files:
        listed = {int(a["id"]): a["filename"] for a in body.get("attachments") or []}
        message.files = {listed.get(n, name): data for n, (name, data) in
                         enumerate(call.files.values())}
    elif "attachments" in body:
        message.files = {}
    return None


def _check_commands(commands: list[Any]) -> str | None:
    for c in commands:
        if isinstance(c, dict) and c.get("type") in (2, 3):  # user and message commands
            if not c.get("name") or c.get("description") or c.get("options"):
                return "a user or message command has a name, no description, no options"
            continue
        if not isinstance(c, dict) or not c.get("name") or not c.get("description"):
            return "every command needs a name and a description"
        if len(c["description"]) > 100:
            return f"description of {c['name']} over 100 characters"
        options = c.get("options") or []
        if len(options) > 25:
            return f"{c['name']} has more than 25 options"
        for group in [options, *[o.get("options") or [] for o in options]]:
            seen_optional = False
            for o in group:
                if len(str(o.get("description") or "")) > 100:
                    return f"option {o.get('name')} description over 100 characters"
                if o.get("type") in (1, 2):
                    continue
                if o.get("required") and seen_optional:
                    return f"required option {o['name']} after an optional one"
                seen_optional = seen_optional or not o.get("required")
    return None


def _json(message: Message) -> dict[str, Any]:
    return {"id": message.id, "channel_id": message.channel, "content": message.content,
            "embeds": message.embeds, "components": message.components, "flags": message.flags,
            "attachments": [{"id": str(n), "filename": name, "size": len(data)}
                            for n, (name, data) in enumerate(message.files.items())]}


def _error(status: int, message: str, code: int) -> web.Response:
    return web.json_response({"message": message, "code": code}, status=status)

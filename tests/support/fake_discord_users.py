"""Discord's side of an interaction, for tests: signed requests as Discord sends them to our
endpoint (Ed25519 over timestamp + body, with a key generated per test), built for a user in
a server or in direct messages."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_ids = itertools.count(1)


class Signer:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()

    @property
    def public_hex(self) -> str:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        signature = self.key.sign(timestamp.encode() + body).hex()
        return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp,
                "Content-Type": "application/json"}


@dataclass
class Member:
    """A Discord user, in a server (``guild``) or in direct messages."""

    id: str
    name: str = "someone"
    guild: str | None = None
    channel: str = "chan-1"
    permissions: int = 0  # bit 5 = Manage Server

    def where(self) -> dict[str, Any]:
        user = {"id": self.id, "username": self.name, "global_name": self.name}
        if self.guild is None:
            return {"user": user, "channel_id": self.channel}
        return {"guild_id": self.guild, "channel_id": self.channel,
                "member": {"user": user, "permissions": str(self.permissions)}}


@dataclass
class Sent:
    """One interaction we posted and the immediate answer."""

    token: str
    status: int
    body: Any
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> int | None:
        return self.body.get("type") if isinstance(self.body, dict) else None

    @property
    def ephemeral_text(self) -> str:
        data = self.body.get("data") or {} if isinstance(self.body, dict) else {}
        assert data.get("flags") == 64, f"not an ephemeral answer: {self.body!r}"
        return str(data.get("content") or "")


class Discord:
    """Posts signed interactions to our web app, as Discord does."""

    def __init__(self, client: httpx.AsyncClient, signer: Signer, application_id: str,
                 path: str = "/discord/interactions") -> None:
        self.client = client
        self.signer = signer
        self.application_id = application_id
        self.path = path

    async def post(self, payload: dict[str, Any], *, timestamp: str | None = None,
                   sign: Callable[[bytes], dict[str, str]] | None = None) -> Sent:
        body = json.dumps(payload).encode()
        headers = sign(body) if sign else self.signer.headers(body, timestamp)
        response = await self.client.post(self.path, content=body, headers=headers)
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        return Sent(str(payload.get("token", "")), response.status_code, answer, payload)

    def base(self, kind: int, who: Member, data: dict[str, Any]) -> dict[str, Any]:
        n = next(_ids)
        return {"id": f"ix-{n}-{time.monotonic_ns()}", "application_id": self.application_id,
                "type": kind, "token": f"tok-{n}-{time.monotonic_ns()}", "version": 1,
                "data": data, **who.where()}

    async def command(self, who: Member, name: str, options: dict[str, Any] | None = None, *,
                      sub: str | None = None,
                      attachments: dict[str, dict[str, Any]] | None = None) -> Sent:
        """``attachments``: option name → {url, filename, content_type, size}."""
        given = [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]
        resolved: dict[str, Any] = {}
        for name_, item in (attachments or {}).items():
            attachment_id = str(next(_ids))
            resolved[attachment_id] = {"id": attachment_id, **item}
            given.append({"name": name_, "type": 11, "value": attachment_id})
        if sub is not None:
            given = [{"name": sub, "type": 1, "options": given}]
        data: dict[str, Any] = {"id": "cmd", "name": name, "type": 1, "options": given}
        if resolved:
            data["resolved"] = {"attachments": resolved}
        return await self.post(self.base(2, who, data))

    async def press(self, who: Member, custom_id: str, values: list[str] | None = None,
                    message_id: str = "") -> Sent:
        data: dict[str, Any] = {"custom_id": custom_id,
                                "component_type": 3 if values is not None else 2}
        if values is not None:
            data["values"] = values
        payload = self.base(3, who, data)
        payload["message"] = {"id": message_id}
        return await self.post(payload)

    async def submit_modal(self, who: Member, custom_id: str, values: dict[str, str]) -> Sent:
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
                for k, v in values.items()]
        return await self.post(self.base(5, who, {"custom_id": custom_id, "components": rows}))


async def eventually(check: Callable[[], Any], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    """Wait until ``check()`` returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)

"""Discord's REST API through httpx: completing interactions (edit the original response,
follow-ups), channel messages for jobs that outlive an interaction token, and registering
slash commands. A 429 is waited out (``retry_after``) and tried again, a few times.

The bot token goes only into the Authorization header, and interaction tokens only into
URLs that httpx would log at INFO — both loggers are kept at WARNING (``quiet_http_logs``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)
MAX_FILES = 10
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class DiscordError(Exception):
    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"Discord answered {status}: {message}")
        self.status = status
        self.body = body


class RateLimited(DiscordError):
    def __init__(self, retry_after: float, body: Any = None) -> None:
        super().__init__(429, f"rate limited for {retry_after:.2f}s", body)
        self.retry_after = retry_after


@dataclass(frozen=True)
class File:
    name: str
    data: bytes
    media_type: str = "image/png"


class DiscordRest:
    def __init__(self, base_url: str, application_id: str, bot_token: str, *,
                 client: httpx.AsyncClient | None = None, max_retries: int = 3,
                 max_wait: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.application_id = application_id
        self._token = bot_token
        self._client = client
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._closed = False

    async def aclose(self) -> None:
        """Close the connection pool. A call after this (a delivery while the app stops)
        still works, on a client of its own."""
        self._closed = True
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT)
        return self._client

    # ----- interactions (the interaction token authorises these) --------------------------

    async def edit_original(self, token: str, payload: dict[str, Any],
                            files: list[File] | None = None) -> dict[str, Any]:
        path = f"/webhooks/{self.application_id}/{token}/messages/@original"
        return _object(await self.call("PATCH", path, payload, files, auth=False))

    async def delete_original(self, token: str) -> None:
        path = f"/webhooks/{self.application_id}/{token}/messages/@original"
        await self.call("DELETE", path, None, auth=False)

    async def followup(self, token: str, payload: dict[str, Any],
                       files: list[File] | None = None) -> dict[str, Any]:
        path = f"/webhooks/{self.application_id}/{token}"
        return _object(await self.call("POST", path, payload, files, auth=False))

    # ----- the bot (its token) ------------------------------------------------------------

    async def channel_message(self, channel: str, payload: dict[str, Any],
                              files: list[File] | None = None) -> dict[str, Any]:
        return _object(await self.call("POST", f"/channels/{channel}/messages", payload, files))

    async def register_commands(self, commands: list[dict[str, Any]],
                                guild: str | None = None) -> list[dict[str, Any]]:
        """Bulk-overwrite the application's commands, globally or in one guild."""
        path = f"/applications/{self.application_id}/commands"
        if guild:
            path = f"/applications/{self.application_id}/guilds/{guild}/commands"
        found = await self.call("PUT", path, commands)
        return found if isinstance(found, list) else []

    # ----- the wire -------------------------------------------------------------------------

    async def call(self, method: str, path: str, payload: Any,
                   files: list[File] | None = None, *, auth: bool = True,
                   retries: bool = True) -> Any:
        for attempt in range(self.max_retries + 1):
            try:
                return await self._once(method, path, payload, files, auth)
            except RateLimited as exc:
                if not retries or attempt == self.max_retries or exc.retry_after > self.max_wait:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")

    async def _once(self, method: str, path: str, payload: Any, files: list[File] | None,
                    auth: bool) -> Any:
        headers = {"User-Agent": "DiscordBot (https://github.com/stationthis, 1.0)"}
        if auth:
            headers["Authorization"] = f"Bot {self._token}"
        if self._closed:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                return await self._send(client, method, path, payload, files, headers)
        return await self._send(self._http(), method, path, payload, files, headers)

    async def _send(self, client: httpx.AsyncClient, method: str, path: str, payload: Any,
                    files: list[File] | None, headers: dict[str, str]) -> Any:
        url = self.base + path
        if files:
            if len(files) > MAX_FILES:
                raise ValueError(f"at most {MAX_FILES} files per message")
            body = dict(payload or {})
            body["attachments"] = [{"id": n, "filename": f.name} for n, f in enumerate(files)]
            multipart = {f"files[{n}]": (f.name, f.data, f.media_type)
                         for n, f in enumerate(files)}
            response = await client.request(
                method, url, headers=headers, data={"payload_json": json.dumps(body)},
                files=multipart)
        elif payload is None:
            response = await client.request(method, url, headers=headers)
        else:
            headers["Content-Type"] = "application/json"
            response = await client.request(method, url, headers=headers,
                                            content=json.dumps(payload).encode())
        return _result(response)


def _object(found: Any) -> dict[str, Any]:
    return dict(found) if isinstance(found, dict) else {}


def _result(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code == 429:
        after = body.get("retry_after") if isinstance(body, dict) else None
        if after is None:
            after = response.headers.get("Retry-After", 1)
        raise RateLimited(float(after), body)
    if response.status_code >= 400:
        message = body.get("message") if isinstance(body, dict) else str(body)[:200]
        raise DiscordError(response.status_code, str(message), body)
    return body


def quiet_http_logs() -> None:
    """httpx logs request URLs at INFO; interaction tokens are part of those URLs."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)

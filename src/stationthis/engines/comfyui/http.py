"""HTTP to ComfyUI servers, on aiohttp.

A worker keeps thousands of jobs on a few servers and submits them as fast as it can, so the
client's own cost per request is the limit: measured on the 2-core machine against the fake
ComfyUI (bench/comfyui_fake.py), 32 concurrent ``POST /prompt`` ran at ~500 requests/s with
httpx (its pool checks every pooled connection for expiry, with a socket poll each, before
every request) and ~4,300/s with aiohttp. The rest of StationThis keeps httpx; this module
is the only place the ComfyUI engine speaks HTTP.

The session is made on first use, in the event loop that uses it (aiohttp binds a session
to its loop), and made again if that loop has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=60.0, connect=5.0)


class ServerUnavailable(Exception):
    """The server could not be reached (refused, reset, timed out) or answered 5xx."""


class HttpStatus(Exception):
    """A 4xx answer where the caller wanted a success (``Reply.raise_for_status``)."""

    def __init__(self, status_code: int, url: str) -> None:
        super().__init__(f"HTTP {status_code} from {url}")
        self.status_code = status_code


@dataclass(frozen=True)
class Reply:
    status_code: int
    content: bytes
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise HttpStatus(self.status_code, self.url)


@dataclass(frozen=True)
class Upload:
    """One file of a multipart form (``/upload/image``) and the form's plain fields."""

    field: str
    name: str
    data: bytes
    media_type: str
    fields: dict[str, str]

    def form(self) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field(self.field, self.data, filename=self.name, content_type=self.media_type)
        for key, value in self.fields.items():
            form.add_field(key, value)
        return form


class Http:
    def __init__(self, timeout: aiohttp.ClientTimeout = TIMEOUT) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._loop = loop
        return self._session

    async def request(
        self, method: str, url: str, *, json_body: Any = None,
        params: dict[str, str] | None = None, upload: Upload | None = None,
    ) -> Reply:
        """The whole answer; ``ServerUnavailable`` when there is none or it is a 5xx."""
        session = self._current()
        try:
            async with session.request(
                method, url, json=json_body, params=params,
                data=upload.form() if upload is not None else None,
            ) as response:
                content = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ServerUnavailable(f"{url}: {type(exc).__name__}") from exc
        if status >= 500:
            raise ServerUnavailable(f"{url}: HTTP {status}")
        return Reply(status, content, url)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            with contextlib.suppress(RuntimeError):  # made in an event loop that has gone
                await session.close()

"""Page tests: the real app (preview engine, SQLite) through its ASGI interface with httpx.

``Browser`` is a small client that behaves like one: it keeps cookies, follows nothing by
itself, and reads the CSRF token from the page it was last shown."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_FORM_TOKEN = re.compile(r'name="csrf" value="([^"]*)"')


class Browser:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        response = await self.client.get(url, **kw)
        found = _META.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(self, url: str, data: dict[str, Any] | None = None, *,
                   csrf: str | None = None, **kw: Any) -> httpx.Response:
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.client.post(url, data=form, **kw)

    async def sign_up(self, name: str, password: str = "correct horse") -> httpx.Response:
        page = await self.get("/signup")
        token = _FORM_TOKEN.search(page.text)
        assert token, page.text
        response = await self.client.post("/signup", data={
            "csrf": token.group(1), "username": name, "password": password})
        assert response.status_code == 303, response.text
        await self.get("/")
        return response


@pytest.fixture
async def station_app(make_settings: Callable[..., Settings]) -> AsyncIterator[App]:
    app = build(make_settings(new_user_grant=5000))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def web(station_app: App) -> AsyncIterator[Callable[[], Browser]]:
    asgi = create_app(station_app, manage_lifecycle=False)
    clients: list[httpx.AsyncClient] = []

    def new_browser() -> Browser:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                                   base_url="http://testserver")
        clients.append(client)
        return Browser(client)

    try:
        yield new_browser
    finally:
        for client in clients:
            await client.aclose()

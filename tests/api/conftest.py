"""API tests through the ASGI app: a started App (scripted engine) behind ``create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App

Client = httpx.AsyncClient
PASSWORD = "correct horse battery"


def client_for(app: App, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(app, manage_lifecycle=False),
                                    client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def web(app: App) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Makes clients of one web app; each client is one browser (its own cookies)."""
    made: list[httpx.AsyncClient] = []

    def make(address: str = "127.0.0.1") -> httpx.AsyncClient:
        client = client_for(app, address)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def sign_up(client: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    """Sign up (and so in); later changes carry the session's CSRF token."""
    answer = await client.post("/api/v1/auth/signup",
                               json={"username": name, "password": PASSWORD, **extra})
    assert answer.status_code == 201, answer.text
    me: dict[str, Any] = answer.json()
    client.headers["X-CSRF-Token"] = me["csrf_token"]
    return me


@pytest.fixture
async def alice(web: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    client = web()
    await sign_up(client, "alice")
    return client


@pytest.fixture
async def bob(web: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    client = web()
    await sign_up(client, "bob")
    return client


def error_of(answer: httpx.Response) -> dict[str, Any]:
    """The error of an answer, checking it has the one shape every error has."""
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def finished(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    """The job's final state, read from its event stream."""
    events = await read_events(client, job_id)
    last: dict[str, Any] = events[-1][1]
    return last


async def read_events(client: httpx.AsyncClient, job_id: str) -> list[tuple[str, Any]]:
    import json

    answer = await client.get(f"/api/v1/jobs/{job_id}/events", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in answer.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines()
                     if line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


Maker = Callable[..., Awaitable[dict[str, Any]]]

"""The cache of who a session or API key belongs to never outlives a revocation.

In one process a revoked key, a signed-out session or a changed password is refused on the
very next request. Two Apps on one database stand for two processes: with a shared Redis the
other one refuses as soon as it hears the revocation (its cache is set to trust an answer for
an hour, so only the signal can explain the refusal); without Redis it refuses once the
cache's time is up (a fake clock moves past it). A ban refuses the next job everywhere at
once: generation reads the account afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.platforms.web.auth import SESSION_COOKIE
from stationthis.workflows.app import App
from tests.api.conftest import PASSWORD, client_for, error_of, sign_up
from tests.support.scripted import ScriptedEngine

BOUND = 20.0  # seconds: only a bound on a hang; nothing here asserts speed
HOUR = 3600.0


async def _me(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/v1/auth/me")).status_code


async def _new_key(browser: httpx.AsyncClient) -> tuple[str, str]:
    made = (await browser.post("/api/v1/account/keys", json={"name": "script"})).json()
    return made["id"], made["key"]


def _program(app: App, secret: str) -> httpx.AsyncClient:
    client = client_for(app)
    client.headers["Authorization"] = f"Bearer {secret}"
    return client


async def _heard(app: App, count: int) -> None:
    async with asyncio.timeout(BOUND):
        while app.auth.cache.heard < count:
            await asyncio.sleep(0.01)


# ----- one process -------------------------------------------------------------------------

async def test_a_revoked_key_is_refused_at_once(
    app: App, web: Callable[..., httpx.AsyncClient]
) -> None:
    browser = web()
    await sign_up(browser, "ada")
    key_id, secret = await _new_key(browser)
    program = _program(app, secret)
    assert await _me(program) == 200
    assert await _me(program) == 200
    assert len(app.auth.cache) >= 1  # the key's owner is remembered
    assert (await browser.delete(f"/api/v1/account/keys/{key_id}")).status_code == 200
    refused = await program.get("/api/v1/jobs")
    assert refused.status_code == 401 and error_of(refused)["code"] == "unauthorized"
    await program.aclose()


async def test_a_signed_out_session_is_refused_at_once(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    browser = web()
    await sign_up(browser, "bea")
    assert await _me(browser) == 200  # remembered now
    token = browser.cookies[SESSION_COOKIE]
    assert (await browser.post("/api/v1/auth/signout")).status_code == 200
    thief = web()
    thief.cookies.set(SESSION_COOKIE, token)
    assert await _me(thief) == 401


async def test_a_password_change_signs_out_remembered_sessions_at_once(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    laptop = web()
    await sign_up(laptop, "cleo")
    phone = web()
    assert (await phone.post("/api/v1/auth/signin",
                             json={"username": "cleo", "password": PASSWORD})).status_code == 200
    assert await _me(phone) == 200 and await _me(phone) == 200
    changed = await laptop.post("/api/v1/auth/password",
                                json={"current": PASSWORD, "new": "another password"})
    assert changed.status_code == 200
    assert await _me(phone) == 401
    assert await _me(laptop) == 200


async def test_a_lookup_that_read_before_a_revocation_is_not_remembered(
    app: App, web: Callable[..., httpx.AsyncClient]
) -> None:
    """A request that read the key just before it was revoked may still be answered, but
    what it read must not be remembered for the requests after the revocation."""
    browser = web()
    me = await sign_up(browser, "dora")
    key_id, secret = await _new_key(browser)
    store = app.auth.store
    lookup = store.key_lookup
    read, go_on = asyncio.Event(), asyncio.Event()

    async def slow_lookup(*args: Any) -> Any:
        found = await lookup(*args)
        read.set()
        await go_on.wait()
        return found

    store.key_lookup = slow_lookup  # type: ignore[method-assign]
    in_flight = asyncio.create_task(app.auth.api_key_account(secret))
    async with asyncio.timeout(BOUND):
        await read.wait()
    account = await app.users.get(me["id"])
    await app.auth.revoke_api_key(account, key_id)
    go_on.set()
    assert (await in_flight) is not None  # it read a live key
    store.key_lookup = lookup  # type: ignore[method-assign]
    assert await app.auth.api_key_account(secret) is None


# ----- two processes -----------------------------------------------------------------------

@pytest.fixture
async def two_with_redis(
    make_settings: Callable[..., Settings], redis_url: str
) -> AsyncIterator[tuple[App, App]]:
    settings = make_settings(redis_url=redis_url)
    a, b = build(settings, engine=ScriptedEngine()), build(settings, engine=ScriptedEngine())
    for app in (a, b):
        await app.start()
    b.auth.cache.ttl = HOUR  # only a signal can make B forget
    try:
        yield a, b
    finally:
        for app in (a, b):
            await app.stop()


@pytest.fixture
async def two_without_redis(
    make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[App, App]]:
    settings = make_settings()
    a, b = build(settings, engine=ScriptedEngine()), build(settings, engine=ScriptedEngine())
    for app in (a, b):
        await app.start()
    try:
        yield a, b
    finally:
        for app in (a, b):
            await app.stop()


async def test_a_key_revoked_in_one_process_is_refused_in_another_after_the_signal(
    two_with_redis: tuple[App, App],
) -> None:
    a, b = two_with_redis
    async with client_for(a) as browser:
        await sign_up(browser, "edna")
        key_id, secret = await _new_key(browser)
        async with _program(b, secret) as program:
            assert await _me(program) == 200
            assert await b.auth.cache.ready()
            assert await _me(program) == 200
            assert len(b.auth.cache) == 1  # B remembers the key's owner
            heard = b.auth.cache.heard
            assert (await browser.delete(f"/api/v1/account/keys/{key_id}")).status_code == 200
            await _heard(b, heard + 1)
            assert await _me(program) == 401


async def test_a_session_signed_out_in_one_process_is_refused_in_another_after_the_signal(
    two_with_redis: tuple[App, App],
) -> None:
    a, b = two_with_redis
    async with client_for(a) as browser, client_for(b) as same_browser_on_b:
        await sign_up(browser, "fern")
        same_browser_on_b.cookies.set(SESSION_COOKIE, browser.cookies[SESSION_COOKIE])
        assert await _me(same_browser_on_b) == 200
        assert await b.auth.cache.ready()
        assert await _me(same_browser_on_b) == 200
        assert len(b.auth.cache) == 1
        heard = b.auth.cache.heard
        assert (await browser.post("/api/v1/auth/signout")).status_code == 200
        await _heard(b, heard + 1)
        assert await _me(same_browser_on_b) == 401


async def test_without_redis_another_process_refuses_a_revoked_key_once_its_time_is_up(
    two_without_redis: tuple[App, App],
) -> None:
    a, b = two_without_redis
    now = [1000.0]
    b.auth.cache.clock = lambda: now[0]
    async with client_for(a) as browser:
        await sign_up(browser, "gwen")
        key_id, secret = await _new_key(browser)
        async with _program(b, secret) as program:
            assert await _me(program) == 200
            assert (await browser.delete(f"/api/v1/account/keys/{key_id}")).status_code == 200
            now[0] += b.auth.cache.ttl  # at most the cache's time later ...
            assert await _me(program) == 401  # ... B has forgotten and refuses


async def test_a_ban_in_another_process_refuses_the_next_job_at_once(
    two_without_redis: tuple[App, App],
) -> None:
    a, b = two_without_redis
    b.auth.cache.ttl = HOUR
    async with client_for(b) as browser:
        me = await sign_up(browser, "hana")
        _, secret = await _new_key(browser)
        async with _program(b, secret) as program:
            job = {"options": {"prompt": "a fox"}}
            assert (await program.post("/api/v1/quotes", json=job)).status_code == 200
            assert len(b.auth.cache) >= 1
            await a.admin.ban(await a.users.get(me["id"]))  # the CLI, say, in another process
            refused = await program.post("/api/v1/jobs", json=job)
            assert refused.status_code == 403, refused.text

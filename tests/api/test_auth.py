"""Accounts: sign up, in and out; sessions and API keys; CSRF; one-time sign-in links;
the sign-in backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from sqlalchemy import select

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.schema import api_keys, web_logins, web_sessions
from stationthis.core.users import Identity
from stationthis.platforms.web.auth import SESSION_COOKIE
from stationthis.workflows.app import App
from tests.api.conftest import PASSWORD, client_for, error_of, sign_up


async def test_sign_up_signs_in_and_stores_no_password(
    app: App, web: Callable[..., httpx.AsyncClient]
) -> None:
    client = web()
    answer = await client.post("/api/v1/auth/signup", json={
        "username": "Alice", "password": PASSWORD, "email": "alice@example.org"})
    assert answer.status_code == 201
    cookie = answer.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    me = (await client.get("/api/v1/auth/me")).json()
    assert me["identities"] == ["web:alice"] and me["auth"] == "session"
    async with app.db.read() as conn:
        stored = (await conn.execute(select(web_logins))).one()
        sessions = (await conn.execute(select(web_sessions.c.token_hash))).scalars().all()
    assert PASSWORD not in stored.password_hash and stored.password_hash.startswith("scrypt$")
    token = client.cookies[SESSION_COOKIE]
    assert token not in sessions and len(sessions) == 1  # only a hash of the token is kept
    # a web user is the same user as ``web:alice`` elsewhere (the CLI's ``alice``)
    assert me["id"] == (await app.users.resolve(Identity("web", "alice"))).id


async def test_sign_in_with_name_or_email_and_sign_out(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    await sign_up(web(), "carol", email="carol@example.org")
    browser = web()
    for name in ("carol", "CAROL@example.org"):
        answer = await browser.post("/api/v1/auth/signin",
                                    json={"username": name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
    browser.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    old_cookie = browser.cookies[SESSION_COOKIE]
    assert (await browser.post("/api/v1/auth/signout")).status_code == 200
    assert (await browser.get("/api/v1/auth/me")).status_code == 401
    # the old cookie is dead on the server too, not only forgotten by the browser
    thief = web()
    thief.cookies.set(SESSION_COOKIE, old_cookie)
    replay = await thief.get("/api/v1/auth/me")
    assert replay.status_code == 401
    assert error_of(replay)["code"] == "unauthorized"


async def test_wrong_password_taken_name_and_bad_input(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    client = web()
    await sign_up(client, "dave")
    wrong = await web().post("/api/v1/auth/signin", json={"username": "dave", "password": "x" * 9})
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_credentials"
    nobody = await web().post("/api/v1/auth/signin",
                              json={"username": "nobody", "password": "x" * 9})
    assert error_of(nobody) == error_of(wrong)  # the same answer: names are not revealed
    taken = await web().post("/api/v1/auth/signup", json={"username": "DAVE", "password": PASSWORD})
    assert taken.status_code == 409 and error_of(taken)["code"] == "conflict"
    short = await web().post("/api/v1/auth/signup", json={"username": "erin", "password": "short"})
    assert short.status_code == 400 and error_of(short)["details"]["input"] == "password"
    odd = await web().post("/api/v1/auth/signup", json={"username": "a b", "password": PASSWORD})
    assert odd.status_code == 400 and error_of(odd)["details"]["input"] == "username"


async def test_repeated_failures_back_off_per_name_and_address(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    await sign_up(web(), "frank")
    attacker = web("10.0.0.9")
    for _ in range(4):  # 3 free failures, then a growing wait
        answer = await attacker.post("/api/v1/auth/signin",
                                     json={"username": "frank", "password": "guess-guess"})
        assert answer.status_code == 401
    blocked = await attacker.post("/api/v1/auth/signin",
                                  json={"username": "frank", "password": PASSWORD})
    assert blocked.status_code == 429
    assert error_of(blocked)["code"] == "too_many_attempts"
    assert int(blocked.headers["retry-after"]) >= 1
    # frank himself, from his own address, is not locked out by the attacker
    own = await web("10.0.0.1").post("/api/v1/auth/signin",
                                     json={"username": "frank", "password": PASSWORD})
    assert own.status_code == 200
    await asyncio.sleep(1.1)  # the first wait is one second
    again = await attacker.post("/api/v1/auth/signin",
                                json={"username": "frank", "password": PASSWORD})
    assert again.status_code == 200


async def test_changes_with_a_session_need_the_csrf_token(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    client = web()
    me = await sign_up(client, "grace")
    token = client.headers.pop("X-CSRF-Token")
    forged = await client.post("/api/v1/account/keys", json={"name": "k"})
    assert forged.status_code == 403 and error_of(forged)["code"] == "csrf_failed"
    wrong = await client.post("/api/v1/account/keys", json={"name": "k"},
                              headers={"X-CSRF-Token": "0" * 40})
    assert wrong.status_code == 403
    assert (await client.get("/api/v1/account/keys")).json() == []  # nothing was made
    ok = await client.post("/api/v1/account/keys", json={"name": "k"},
                           headers={"X-CSRF-Token": token})
    assert ok.status_code == 201
    assert token == me["csrf_token"] == (await client.get("/api/v1/auth/me")).json()["csrf_token"]


async def test_api_keys_shown_once_hashed_listed_and_revoked(
    app: App, web: Callable[..., httpx.AsyncClient]
) -> None:
    browser = web()
    me = await sign_up(browser, "heidi")
    made = (await browser.post("/api/v1/account/keys", json={"name": "my script"})).json()
    secret = made["key"]
    assert secret.startswith(made["prefix"])
    program = web()  # no cookies, no CSRF token: only the key
    program.headers["Authorization"] = f"Bearer {secret}"
    who = (await program.get("/api/v1/auth/me")).json()
    assert who["id"] == me["id"] and who["auth"] == "key" and who["csrf_token"] is None
    assert (await program.post("/api/v1/quotes", json={"options": {"prompt": "a fox"}})
            ).status_code == 200  # a change without CSRF token: keys need none
    listed = (await browser.get("/api/v1/account/keys")).json()
    assert [k["name"] for k in listed] == ["my script"]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is not None
    async with app.db.read() as conn:
        hashes = (await conn.execute(select(api_keys.c.key_hash))).scalars().all()
    assert secret not in hashes
    assert (await browser.delete(f"/api/v1/account/keys/{made['id']}")).status_code == 200
    refused = await program.get("/api/v1/auth/me")
    assert refused.status_code == 401 and error_of(refused)["code"] == "unauthorized"
    # someone else cannot revoke (or see) a key of heidi's
    other = web()
    await sign_up(other, "ivan")
    again = (await browser.post("/api/v1/account/keys", json={"name": "second"})).json()
    assert (await other.delete(f"/api/v1/account/keys/{again['id']}")).status_code == 404
    assert (await other.get("/api/v1/account/keys")).json() == []


async def test_a_login_link_signs_in_once(
    app: App, web: Callable[..., httpx.AsyncClient]
) -> None:
    telegram_user = await app.users.resolve(Identity("telegram", "4242"))
    token = await app.auth.create_login_link(telegram_user)
    url = app.auth.login_url("https://studio.example.org/", token)  # what the bot sends
    assert url.startswith("https://studio.example.org/auth/link/")
    browser = web()
    answer = await browser.get(url.removeprefix("https://studio.example.org"))
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    me = (await browser.get("/api/v1/auth/me")).json()
    assert me["id"] == telegram_user.id and me["identities"] == ["telegram:4242"]
    second = await web().get(f"/auth/link/{token}")
    assert second.status_code == 401 and error_of(second)["code"] == "unauthorized"
    assert (await web().get("/auth/link/made-up")).status_code == 401


async def test_a_login_link_expires(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(web={"login_link_minutes": 0.001})  # 60 ms
    async with build(settings) as app:
        user = await app.users.resolve(Identity("telegram", "7"))
        token = await app.auth.create_login_link(user)
        await asyncio.sleep(0.2)
        async with client_for(app) as browser:
            late = await browser.get(f"/auth/link/{token}")
            assert late.status_code == 401
            assert (await browser.get("/api/v1/auth/me")).status_code == 401


async def test_linking_a_telegram_account_with_a_code(
    app: App, alice: httpx.AsyncClient
) -> None:
    telegram_user = await app.users.resolve(Identity("telegram", "99"))
    code = await app.account.link_code(telegram_user)
    linked = await alice.post("/api/v1/account/link", json={"code": code})
    assert linked.status_code == 200, linked.text
    assert set(linked.json()["identities"]) == {"telegram:99", "web:alice"}
    # the browser's session follows its account into the kept one
    me = (await alice.get("/api/v1/auth/me")).json()
    assert me["id"] == telegram_user.id
    reused = await alice.post("/api/v1/account/link", json={"code": code})
    assert reused.status_code == 400 and error_of(reused)["code"] == "invalid_input"
    shown = (await alice.post("/api/v1/account/link-code")).json()
    assert len(shown["code"]) == 8 and shown["expires_in_seconds"] > 0


async def test_changing_the_password_signs_out_other_browsers(
    web: Callable[..., httpx.AsyncClient]
) -> None:
    laptop = web()
    await sign_up(laptop, "judy")
    phone = web()
    signed_in = await phone.post("/api/v1/auth/signin",
                                 json={"username": "judy", "password": PASSWORD})
    assert signed_in.status_code == 200
    wrong = await laptop.post("/api/v1/auth/password",
                              json={"current": "not it at all", "new": "a new password"})
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_credentials"
    changed = await laptop.post("/api/v1/auth/password",
                                json={"current": PASSWORD, "new": "a new password"})
    assert changed.status_code == 200
    assert (await laptop.get("/api/v1/auth/me")).status_code == 200  # this browser stays in
    assert (await phone.get("/api/v1/auth/me")).status_code == 401  # the other one is out
    old = await web().post("/api/v1/auth/signin", json={"username": "judy", "password": PASSWORD})
    assert old.status_code == 401
    new = await web().post("/api/v1/auth/signin",
                           json={"username": "judy", "password": "a new password"})
    assert new.status_code == 200

"""Limits an attacker would hit through the API: sign-ups per client address, and link codes
that do not work per account — both answered 429 with a message and ``Retry-After``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from tests.api.conftest import PASSWORD, error_of, sign_up


async def test_sign_ups_per_address_are_limited(web: Callable[..., httpx.AsyncClient]) -> None:
    for n in range(4):
        await sign_up(web("198.51.100.1"), f"user{n}")
    taken = await web("198.51.100.1").post("/api/v1/auth/signup",
                                           json={"username": "user0", "password": PASSWORD})
    assert taken.status_code == 409  # a taken name is an attempt too (5 of 5)
    refused = await web("198.51.100.1").post("/api/v1/auth/signup",
                                             json={"username": "user9", "password": PASSWORD})
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "too_many_attempts"
    assert "too many new accounts from this address" in error["message"]
    assert 3500 < int(refused.headers["retry-after"]) <= 3600
    # the name was not made, and another address may still sign up
    assert (await web("198.51.100.2").post("/api/v1/auth/signin", json={
        "username": "user9", "password": PASSWORD})).status_code == 401
    await sign_up(web("198.51.100.2"), "user9")


async def test_link_codes_that_do_not_work_are_limited(
    app: App, alice: httpx.AsyncClient
) -> None:
    for n in range(10):
        wrong = await alice.post("/api/v1/account/link", json={"code": f"WRONG{n:03d}"})
        assert wrong.status_code == 400
    telegram = await app.users.resolve(Identity("telegram", "77"))
    right = await app.users.create_link_code(telegram.id)
    refused = await alice.post("/api/v1/account/link", json={"code": right})
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "too_many_attempts"
    assert "too many link codes" in error_of(refused)["message"]
    assert int(refused.headers["retry-after"]) > 3500
    me = (await alice.get("/api/v1/auth/me")).json()
    assert me["identities"] == ["web:alice"]  # not linked

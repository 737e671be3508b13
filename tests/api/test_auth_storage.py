"""The auth workflow on SQLite and PostgreSQL: duplicate names and emails, single-use links
under a race, sessions and keys after accounts are linked, and the backoff counter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.auth import BadCredentials, TooManyAttempts
from stationthis.core.errors import Conflict
from stationthis.core.users import Identity
from tests.support.scripted import ScriptedEngine

PASSWORD = "correct horse battery"


async def test_auth_on_both_databases(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    async with build(make_settings(database_url=db_url), engine=ScriptedEngine()) as app:
        auth = app.auth
        alice = await auth.sign_up("alice", PASSWORD, "alice@example.org")
        with pytest.raises(Conflict):
            await auth.sign_up("Alice", PASSWORD)
        with pytest.raises(Conflict):  # the email, caught by the unique constraint
            await auth.sign_up("alice2", PASSWORD, "ALICE@example.org")
        assert (await auth.sign_in("alice@example.org", PASSWORD)).id == alice.id

        # a sign-in link raced by two browsers signs in exactly one of them
        token = await auth.create_login_link(alice)
        results = await asyncio.gather(auth.use_login_link(token), auth.use_login_link(token),
                                       return_exceptions=True)
        assert sum(not isinstance(r, Exception) for r in results) == 1

        session = await auth.start_session(alice)
        key = await auth.create_api_key(alice, "script")
        # alice links her account into a Telegram user's: everything follows her
        telegram = await app.users.resolve(Identity("telegram", "5"))
        await app.account.link(alice, await app.account.link_code(telegram))
        assert (await auth.session_account(session.token)).id == telegram.id  # type: ignore[union-attr]
        assert (await auth.api_key_account(key.secret)).id == telegram.id  # type: ignore[union-attr]
        assert (await auth.sign_in("alice", PASSWORD)).id == telegram.id

        for _ in range(4):
            with pytest.raises(BadCredentials):
                await auth.sign_in("alice", "wrong password", "10.1.1.1")
        with pytest.raises(TooManyAttempts) as locked:
            await auth.sign_in("alice", PASSWORD, "10.1.1.1")
        assert locked.value.details["retry_after"] >= 1
        await auth.end_session(session.token)
        assert await auth.session_account(session.token) is None

"""The sign-in backoff holds against parallel guesses, on SQLite and PostgreSQL, and across
two app processes on one database: an attempt is counted before its password is checked, so
a burst cannot pass the "not locked" check all at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.auth import BadCredentials, TooManyAttempts
from stationthis.core.db import utcnow
from stationthis.core.users import Account
from tests.support.scripted import ScriptedEngine

PASSWORD = "correct horse battery"
ADDRESS = "203.0.113.7"


class Clock:
    """Time stands still: a lock lasts as long as the test needs it."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_forty_parallel_sign_ins_check_one_password(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url)
    # two separate app builds on one database: two processes behind a load balancer
    one, two = build(settings, engine=ScriptedEngine()), build(settings, engine=ScriptedEngine())
    clock = Clock()
    one.auth.store.clock = two.auth.store.clock = clock
    try:
        alice = await one.auth.sign_up("alice", PASSWORD)
        for _ in range(3):  # the free failures
            with pytest.raises(BadCredentials):
                await one.auth.sign_in("alice", "not the password", ADDRESS)

        tries = [(one if i % 2 else two).auth.sign_in("alice", f"guess {i}", ADDRESS)
                 for i in range(39)]
        tries.append(two.auth.sign_in("alice", PASSWORD, ADDRESS))  # the right one, last
        results = await asyncio.gather(*tries, return_exceptions=True)
        checked = [r for r in results if not isinstance(r, TooManyAttempts)]
        assert len(checked) == 1, results  # one password checked; 39 refused unchecked
        assert isinstance(checked[0], BadCredentials | Account)
        refused = [r for r in results if isinstance(r, TooManyAttempts)]
        assert all(r.details["retry_after"] >= 1 for r in refused)

        if isinstance(results[-1], TooManyAttempts):  # the right one came after a guess
            # ... and it stays refused, in either process, while the lock lasts
            for app in (one, two):
                with pytest.raises(TooManyAttempts):
                    await app.auth.sign_in("alice", PASSWORD, ADDRESS)
            clock.now += timedelta(seconds=1)
        # once the wait is over the right password works again, and clears the count
        assert (await two.auth.sign_in("alice", PASSWORD, ADDRESS)).id == alice.id
        with pytest.raises(BadCredentials):
            await one.auth.sign_in("alice", "not the password", ADDRESS)
    finally:
        await one.db.dispose()
        await two.db.dispose()

"""Link codes are 40-bit: an account may enter only a few codes that do not work an hour, on
SQLite and PostgreSQL, even when it sends them all at once from two processes; then every
code is refused, even the right one, until the hour has passed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from stationthis.core.auth import TooManyAttempts
from stationthis.core.db import Database, utcnow
from stationthis.core.errors import InvalidInput
from stationthis.core.points import AllowancePolicy, Ledger
from stationthis.core.throttle import SqlThrottle
from stationthis.core.users import Identity, Users

POLICY = AllowancePolicy(amount=1000, steps=18, interval_seconds=900)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def users_on(db: Database, clock: Clock) -> Users:
    return Users(db, Ledger(db, POLICY), POLICY, throttle=SqlThrottle(db, clock=clock))


async def test_wrong_link_codes_are_limited_per_account(db_url: str) -> None:
    clock = Clock()
    one, two = Database(db_url), Database(db_url)  # two processes
    try:
        a, b = users_on(one, clock), users_on(two, clock)
        victim = await a.resolve(Identity("telegram", "1"))
        attacker = await a.resolve(Identity("discord", "2"))
        code = await a.create_link_code(victim.id)

        guesses = [(a if i % 2 else b).redeem_link_code(f"ZZZZZZ{i:02d}", attacker.id)
                   for i in range(40)]
        results = await asyncio.gather(*guesses, return_exceptions=True)
        assert sum(isinstance(r, InvalidInput) for r in results) == 10  # looked up
        refused = [r for r in results if isinstance(r, TooManyAttempts)]
        assert len(refused) == 30
        assert "too many link codes" in refused[0].message
        assert refused[0].details["retry_after"] == 3600

        # now even the right code is refused, and nothing was merged
        with pytest.raises(TooManyAttempts):
            await b.redeem_link_code(code, attacker.id)
        assert (await a.get(attacker.id)).id == attacker.id
        assert [str(i) for i in await a.identities_of(victim.id)] == ["telegram:1"]

        # another account is not affected by this one's guesses
        other = await a.resolve(Identity("web", "carol"))
        with pytest.raises(InvalidInput):
            await a.redeem_link_code("ZZZZZZZZ", other.id)

        clock.now += timedelta(hours=1)  # the hour has passed
        fresh = await a.create_link_code(victim.id)
        assert (await b.redeem_link_code(fresh, attacker.id)).id == victim.id
    finally:
        await one.dispose()
        await two.dispose()


async def test_a_right_code_does_not_count_as_a_guess(db_url: str) -> None:
    db = Database(db_url)
    try:
        users = users_on(db, Clock())
        users.link_guesses_per_hour = 2
        target = await users.resolve(Identity("telegram", "1"))
        me = await users.resolve(Identity("web", "me"))
        with pytest.raises(InvalidInput):  # a typo: one of the two
            await users.redeem_link_code("TYPOTYPO", me.id)
        assert (await users.redeem_link_code(await users.create_link_code(target.id),
                                             me.id)).id == target.id
        # the right code was given back: one more mistype is still looked up (not refused)
        with pytest.raises(InvalidInput):
            await users.redeem_link_code("TYPOTYPO", me.id)
        with pytest.raises(TooManyAttempts):
            await users.redeem_link_code("TYPOTYPO", me.id)
    finally:
        await db.dispose()

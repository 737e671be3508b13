"""Preferences on SQLite and PostgreSQL: set (insert and replace), JSON values as they were
given, unset one key, reset all, accounts kept apart, and concurrent writes of one key."""

from __future__ import annotations

import asyncio

import pytest

from stationthis.core.db import Database
from stationthis.core.points import AllowancePolicy, Ledger
from stationthis.core.preferences import Preferences
from stationthis.core.users import Account, Identity, Users

POLICY = AllowancePolicy(amount=1000, steps=18, interval_seconds=900)


@pytest.fixture
def users(db: Database) -> Users:
    return Users(db, Ledger(db, POLICY), POLICY)


@pytest.fixture
def prefs(db: Database) -> Preferences:
    return Preferences(db)


async def account(users: Users, name: str, kind: str = "user") -> Account:
    return await users.resolve(Identity("test", name), kind=kind)


async def test_set_get_replace(users: Users, prefs: Preferences) -> None:
    alice = await account(users, "alice")
    assert await prefs.get(alice.id) == {}
    await prefs.set(alice.id, "steps", 30)
    await prefs.set(alice.id, "cfg", 6.5)
    await prefs.set(alice.id, "negative", "blurry, “quoted”, ünïcode")
    await prefs.set(alice.id, "size", [1024, 768])
    await prefs.set(alice.id, "steps", 40)  # replaces
    assert await prefs.get(alice.id) == {
        "steps": 40, "cfg": 6.5, "negative": "blurry, “quoted”, ünïcode", "size": [1024, 768],
    }


async def test_unset_and_reset(users: Users, prefs: Preferences) -> None:
    alice, bob = await account(users, "alice"), await account(users, "bob")
    group = await account(users, "-100", kind="group")
    for acct in (alice, bob, group):
        await prefs.set(acct.id, "steps", 30)
        await prefs.set(acct.id, "seed", -1)
    assert await prefs.unset(alice.id, "steps") is True
    assert await prefs.unset(alice.id, "steps") is False
    assert await prefs.get(alice.id) == {"seed": -1}
    await prefs.set(alice.id, "seed", None)  # None removes
    assert await prefs.get(alice.id) == {}
    assert await prefs.reset(bob.id) == 2
    assert await prefs.reset(bob.id) == 0
    assert await prefs.get(bob.id) == {}
    assert await prefs.get(group.id) == {"steps": 30, "seed": -1}  # others untouched


async def test_concurrent_writes_of_one_key_leave_one_value(
    users: Users, prefs: Preferences
) -> None:
    alice = await account(users, "alice")
    await asyncio.gather(*(prefs.set(alice.id, "steps", n) for n in range(1, 11)))
    value = (await prefs.get(alice.id))["steps"]
    assert value in range(1, 11)

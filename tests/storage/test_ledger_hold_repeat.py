"""A hold is idempotent on its ref whatever the balance did in between: a repeat made after
the allowance was spent (or refilled), so that it would split otherwise than the first call,
holds nothing more — on SQLite and PostgreSQL, one after the other and (PostgreSQL) racing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from stationthis.core.db import Database
from stationthis.core.points import AllowancePolicy, Hold, Ledger
from stationthis.core.schema import ledger as ledger_table
from stationthis.core.users import Identity, Users
from tests.support.clock import Clock


@pytest.fixture
def ledger(db: Database, clock: Clock) -> Ledger:
    # 50 free points, refilled in one step every 15 minutes
    return Ledger(db, AllowancePolicy(amount=50, steps=1, interval_seconds=900), clock=clock)


async def new_account(ledger: Ledger, credit: int) -> str:
    account = (await Users(ledger.db, ledger, ledger.policy).resolve(Identity("test", "al"))).id
    await ledger.grant(account, credit, key="g1")
    return account


async def hold(ledger: Ledger, account: str, amount: int, ref: str) -> Hold:
    async with ledger.db.write() as conn:
        return await ledger.hold(conn, account, amount, ref=ref)


async def settle(ledger: Ledger, ref: str, cost: int) -> int:
    async with ledger.db.write() as conn:
        return await ledger.settle(conn, ref, cost)


async def total(ledger: Ledger, account: str) -> int:
    return (await ledger.balance(account)).total


async def test_a_repeat_after_the_allowance_was_spent_holds_nothing_more(
    ledger: Ledger,
) -> None:
    alice = await new_account(ledger, 100)  # 50 allowance + 100 credit
    assert await hold(ledger, alice, 40, "job:1") == Hold("job:1", 40, 0)  # allowance only
    await hold(ledger, alice, 10, "job:2")  # the rest of the allowance, elsewhere
    assert await total(ledger, alice) == 100
    # the same hold again: it would now come wholly from credit (no key in common)
    assert await hold(ledger, alice, 40, "job:1") == Hold("job:1", 40, 0)
    assert await total(ledger, alice) == 100
    assert await ledger.verify(alice)
    assert await settle(ledger, "job:1", 30) == 30
    assert await settle(ledger, "job:1", 30) == 30
    assert await total(ledger, alice) == 110  # 150 - 30 charged - 10 still held
    assert await ledger.verify(alice)
    rows = [(e.kind, e.amount) for e in reversed(await ledger.history(alice))
            if e.ref == "job:1"]
    assert rows == [("hold", -40), ("capture", 0), ("release", 10)]


async def test_a_repeat_after_the_allowance_refilled_holds_nothing_more(
    ledger: Ledger, clock: Clock,
) -> None:
    alice = await new_account(ledger, 100)
    await hold(ledger, alice, 50, "job:1")  # the whole allowance
    assert await hold(ledger, alice, 30, "job:2") == Hold("job:2", 0, 30)  # credit only
    clock.now += timedelta(minutes=15)  # the allowance is full again
    assert await total(ledger, alice) == 120
    # the repeat would now come wholly from the allowance
    assert await hold(ledger, alice, 30, "job:2") == Hold("job:2", 0, 30)
    assert await total(ledger, alice) == 120
    assert await ledger.verify(alice)
    assert await settle(ledger, "job:2", 30) == 30
    assert await total(ledger, alice) == 120
    assert await ledger.verify(alice)
    # one hold row, as before ...
    rows = [(e.kind, e.bucket, e.amount) for e in reversed(await ledger.history(alice))
            if e.ref == "job:2"]
    assert rows == [("hold", "credit", -30), ("capture", "credit", 0), ("release", "allowance", 0)]
    # ... and a free job still shows its one (zero) hold row
    await hold(ledger, alice, 0, "job:3")
    assert [(e.kind, e.amount) for e in await ledger.history(alice) if e.ref == "job:3"] == [
        ("hold", 0)]


async def test_holds_written_with_the_keys_of_before_still_settle_and_release(
    ledger: Ledger, db: Database,
) -> None:
    alice = await new_account(ledger, 100)
    await hold(ledger, alice, 40, "job:1")  # allowance only
    await hold(ledger, alice, 30, "job:2")  # 10 allowance + 20 credit
    await hold(ledger, alice, 20, "job:3")  # credit only
    async with db.write() as conn:  # keys as they were: <ref>:hold:<bucket> on every row
        t = ledger_table
        await conn.execute(update(t).where(t.c.kind == "hold").values(
            idem_key=t.c.ref + ":hold:" + t.c.bucket))
    assert await settle(ledger, "job:1", 40) == 40
    assert await settle(ledger, "job:2", 25) == 25
    async with db.write() as conn:
        assert await ledger.release(conn, "job:3") == 20
    assert await total(ledger, alice) == 150 - 40 - 25
    assert await ledger.verify(alice)


@pytest.mark.postgres
@pytest.mark.parametrize("first", [50, 40], ids=["repeat-from-credit", "repeat-split"])
async def test_racing_repeats_on_postgresql_hold_once(pg_url: str, clock: Clock,
                                                      first: int) -> None:
    """The second call's statement starts while the first transaction holds the account's
    row lock, so its snapshot predates the first hold; it reads the balance after it (the
    allowance spent: its split differs) once the first commits."""
    db = Database(pg_url)
    try:
        ledger = Ledger(db, AllowancePolicy(amount=50, steps=1, interval_seconds=900),
                        clock=clock)
        alice = await new_account(ledger, 100)
        await ledger.balance(alice)  # refilled: both calls take the one-statement path
        async with db.write() as conn:
            assert await ledger.hold(conn, alice, first, ref="job:1") == Hold(
                "job:1", first, 0)
            second = asyncio.create_task(hold(ledger, alice, first, "job:1"))
            await waiting_for_a_lock(db, second)
        assert await second == Hold("job:1", first, 0)
        assert await total(ledger, alice) == 150 - first
        assert await ledger.verify(alice)
        assert await settle(ledger, "job:1", first) == first
        assert await total(ledger, alice) == 150 - first
        assert await ledger.verify(alice)
    finally:
        await db.dispose()


async def waiting_for_a_lock(db: Database, task: asyncio.Task[Hold]) -> None:
    """Return once a session of this database waits for a lock (the second call, blocked
    on the account's row)."""
    for _ in range(2000):
        async with db.read() as conn:
            waiting = (await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))).scalar_one()
        if waiting:
            return
        assert not task.done(), "the second call did not wait for the first"
        await asyncio.sleep(0.005)
    raise AssertionError("the second call never waited for the account's lock")

"""The points ledger on SQLite and PostgreSQL: two-phase spending, idempotency, allowance,
and the invariant (cached balance = sum of rows) under concurrent spenders."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from stationthis.core.db import Database
from stationthis.core.errors import InsufficientPoints, InvalidInput
from stationthis.core.points import AllowancePolicy, Ledger
from stationthis.core.users import Identity, Users
from tests.support.clock import Clock


@pytest.fixture
def ledger(db: Database, clock: Clock) -> Ledger:
    return Ledger(db, AllowancePolicy(amount=0), clock=clock)


async def new_account(db: Database, ledger: Ledger, name: str = "alice") -> str:
    users = Users(db, ledger, ledger.policy)
    return (await users.resolve(Identity("test", name))).id


async def hold(ledger: Ledger, account: str, amount: int, ref: str) -> None:
    async with ledger.db.write() as conn:
        await ledger.hold(conn, account, amount, ref=ref)


async def settle(ledger: Ledger, ref: str, cost: int) -> int:
    async with ledger.db.write() as conn:
        return await ledger.settle(conn, ref, cost)


async def release(ledger: Ledger, ref: str) -> int:
    async with ledger.db.write() as conn:
        return await ledger.release(conn, ref)


async def test_hold_capture_release_leaves_the_actual_cost(db: Database, ledger: Ledger) -> None:
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 100, key="g1")
    await hold(ledger, alice, 30, "job:1")
    assert (await ledger.balance(alice)).total == 70
    assert await settle(ledger, "job:1", 25) == 25
    assert (await ledger.balance(alice)).total == 75
    kinds = [e.kind for e in reversed(await ledger.history(alice))]
    assert kinds == ["grant", "hold", "capture", "release"]
    capture = next(e for e in await ledger.history(alice) if e.kind == "capture")
    assert capture.charged == 25
    assert await ledger.verify(alice)


async def test_release_returns_everything(db: Database, ledger: Ledger) -> None:
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 50, key="g1")
    await hold(ledger, alice, 50, "job:1")
    assert (await ledger.balance(alice)).total == 0
    assert await release(ledger, "job:1") == 50
    assert (await ledger.balance(alice)).total == 50
    assert await ledger.verify(alice)


async def test_capture_never_exceeds_the_hold(db: Database, ledger: Ledger) -> None:
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 100, key="g1")
    await hold(ledger, alice, 20, "job:1")
    assert await settle(ledger, "job:1", 500) == 20
    assert (await ledger.balance(alice)).total == 80


async def test_every_write_is_idempotent(db: Database, ledger: Ledger) -> None:
    alice = await new_account(db, ledger)
    assert await ledger.grant(alice, 100, key="purchase:abc")
    assert not await ledger.grant(alice, 100, key="purchase:abc")
    await hold(ledger, alice, 40, "job:1")
    await hold(ledger, alice, 40, "job:1")  # a retried hold
    assert (await ledger.balance(alice)).total == 60
    assert await settle(ledger, "job:1", 10) == 10
    assert await settle(ledger, "job:1", 10) == 10  # a duplicate webhook
    assert await release(ledger, "job:1") == 0  # a late failure after success
    assert (await ledger.balance(alice)).total == 90
    assert len(await ledger.history(alice)) == 4


async def test_a_hold_repeated_after_the_balance_moved_holds_nothing_more(
    db: Database, clock: Clock
) -> None:
    # The first hold of job:1 comes from the allowance alone; when it is repeated, the
    # allowance is nearly gone, so the repeat would split allowance + credit: one of its
    # rows' keys was used by the first hold. Nothing more may be held, and no stray row left.
    ledger = Ledger(db, AllowancePolicy(amount=50), clock=clock)
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 100, key="g1")
    await hold(ledger, alice, 40, "job:1")
    await hold(ledger, alice, 5, "job:2")
    before = await ledger.balance(alice)
    await hold(ledger, alice, 40, "job:1")
    assert await ledger.balance(alice) == before
    assert await ledger.verify(alice)
    assert await release(ledger, "job:1") == 40
    assert await ledger.verify(alice)
    assert [e.amount for e in await ledger.history(alice) if e.ref == "job:1"] == [40, -40]


async def test_short_balance_is_refused_with_the_numbers(db: Database, ledger: Ledger) -> None:
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 10, key="g1")
    with pytest.raises(InsufficientPoints) as err:
        await hold(ledger, alice, 25, "job:1")
    assert err.value.details["quote"] == 25
    assert err.value.details["available"] == 10
    assert "25" in err.value.message and "10" in err.value.message
    assert (await ledger.balance(alice)).total == 10


async def test_grants_must_be_positive(db: Database, ledger: Ledger) -> None:
    alice = await new_account(db, ledger)
    with pytest.raises(InvalidInput):
        await ledger.grant(alice, -5, key="bad")


async def test_allowance_is_spent_first_and_regenerates_in_steps(
    db: Database, clock: Clock
) -> None:
    policy = AllowancePolicy(amount=180, steps=18, interval_seconds=900)
    ledger = Ledger(db, policy, clock=clock)
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 50, key="g1")
    b = await ledger.balance(alice)
    assert (b.allowance, b.credit) == (180, 50)

    await hold(ledger, alice, 200, "job:1")
    await settle(ledger, "job:1", 200)
    b = await ledger.balance(alice)
    assert (b.allowance, b.credit) == (0, 30)  # allowance first, then credit
    assert b.next_refill_at is not None

    clock.now += timedelta(minutes=15)
    assert (await ledger.balance(alice)).allowance == 10  # one step of 180/18
    clock.now += timedelta(minutes=45)
    assert (await ledger.balance(alice)).allowance == 40  # three more steps
    clock.now += timedelta(hours=10)
    b = await ledger.balance(alice)
    assert b.allowance == 180  # never above the full allowance
    assert b.next_refill_at is None
    assert await ledger.verify(alice)


async def test_release_gives_credit_back_before_allowance(db: Database, clock: Clock) -> None:
    ledger = Ledger(db, AllowancePolicy(amount=20, steps=2, interval_seconds=900), clock=clock)
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 100, key="g1")
    await hold(ledger, alice, 50, "job:1")  # 20 allowance + 30 credit
    await settle(ledger, "job:1", 10)  # 40 come back: 30 credit, 10 allowance
    b = await ledger.balance(alice)
    assert (b.allowance, b.credit) == (10, 100)


async def test_concurrent_spenders_never_overdraw(db: Database, ledger: Ledger) -> None:
    """Many simultaneous holds, captures and releases on one account: the balance never
    goes below zero and always equals the sum of its rows."""
    alice = await new_account(db, ledger)
    await ledger.grant(alice, 1000, key="g1")
    rng = random.Random(7)
    accepted: list[str] = []
    refused = 0

    async def spender(i: int) -> None:
        nonlocal refused
        ref = f"job:{i}"
        amount = rng.randint(10, 120)
        try:
            await hold(ledger, alice, amount, ref)
        except InsufficientPoints:
            refused += 1
            return
        accepted.append(ref)
        await asyncio.sleep(0)
        if i % 3 == 0:
            await release(ledger, ref)
        else:
            await settle(ledger, ref, rng.randint(0, amount))

    await asyncio.gather(*(spender(i) for i in range(64)))
    assert refused > 0 and accepted  # the test really hit the limit
    assert await ledger.verify(alice)
    b = await ledger.balance(alice)
    assert 0 <= b.total <= 1000
    history = await ledger.history(alice, limit=1000)
    assert sum(e.amount for e in history) == b.total
    charged = sum(e.charged or 0 for e in history if e.kind == "capture")
    assert b.total == 1000 - charged

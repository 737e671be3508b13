"""Changing the allowance settings (``STATIONTHIS_ALLOWANCE__INTERVAL_SECONDS``, ``__AMOUNT``,
``__STEPS``) on an existing data directory must never break it: every quote and balance
still works and makes sense, and the ledger invariant (balance = sum of rows) holds.

Each step rebuilds the app on the same database with other settings, as an operator
restarting with a changed ``.env`` does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.points import Balance
from stationthis.core.users import Identity
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine

ALICE = Identity("web", "alice")


async def with_allowance(make_settings: Callable[..., Settings], **allowance: Any
                         ) -> tuple[Balance, timedelta | None, int]:
    """Restart with these allowance settings: (balance, time until full, a quote's points)."""
    app = build(make_settings(allowance=allowance), engine=ScriptedEngine())
    await app.start()
    try:
        alice = await app.users.resolve(ALICE)
        view = await app.account.balance(alice)
        quote = await app.make_image.quote(alice, Request("make", {"prompt": "a fox"}))
        assert quote.available == view.balance.total
        assert await app.ledger.verify(alice.id)  # cached balance = sum of the rows
        again = await app.ledger.balance(alice.id)  # and asking twice changes nothing
        assert again == view.balance
        return view.balance, view.full_in, quote.points
    finally:
        await app.stop()


async def spend(make_settings: Callable[..., Settings], points: int, **allowance: Any) -> None:
    app = build(make_settings(allowance=allowance), engine=ScriptedEngine())
    await app.start()
    try:
        alice = await app.users.resolve(ALICE)
        async with app.ledger.db.write() as conn:
            await app.ledger.hold(conn, alice.id, points, ref=f"spent-{points}")
            await app.ledger.settle(conn, f"spent-{points}", points)
    finally:
        await app.stop()


async def test_the_interval_grows_huge_and_quotes_still_work(
    make_settings: Callable[..., Settings]
) -> None:
    await spend(make_settings, 400, interval_seconds=900)  # ticks counted in 15 minutes
    balance, full_in, points = await with_allowance(make_settings,
                                                    interval_seconds=4_000_000_000)
    assert (balance.allowance, balance.allowance_max, points) == (600, 1000, 15)
    # the next refill is a date a datetime can hold (here: ~127 years away), or none at all
    assert balance.next_refill_at is None or balance.next_refill_at > datetime.now(UTC)
    assert full_in is None or full_in > timedelta(0)
    for interval in (10**12, 10**15):  # beyond any date: counts as not refilling
        balance, full_in, _ = await with_allowance(make_settings, interval_seconds=interval)
        assert balance.allowance == 600 and balance.next_refill_at is None and full_in is None


async def test_the_interval_shrinks_and_the_allowance_refills_at_most_to_full(
    make_settings: Callable[..., Settings]
) -> None:
    await spend(make_settings, 700, interval_seconds=3600)
    balance, _, _ = await with_allowance(make_settings, interval_seconds=1)
    assert balance.allowance == 1000 and balance.next_refill_at is None  # full, not more


async def test_ticks_of_a_longer_interval_restart_the_count_without_a_refill(
    make_settings: Callable[..., Settings]
) -> None:
    await spend(make_settings, 400, interval_seconds=1)  # ticks counted in seconds
    before = datetime.now(UTC)
    balance, full_in, _ = await with_allowance(make_settings, interval_seconds=60, steps=3)
    assert balance.allowance == 600  # no windfall from a tick count of another unit
    assert balance.next_refill_at is not None
    assert before < balance.next_refill_at <= datetime.now(UTC) + timedelta(seconds=60)
    assert full_in is not None and full_in <= timedelta(seconds=3 * 60)


async def test_the_amount_and_steps_change(make_settings: Callable[..., Settings]) -> None:
    await spend(make_settings, 400, interval_seconds=60)
    # a lower amount: the 600 free points left are kept, not refilled, not taken away
    balance, full_in, _ = await with_allowance(make_settings, interval_seconds=1, amount=500,
                                               steps=3)
    assert (balance.allowance, balance.allowance_max) == (600, 500)
    assert balance.next_refill_at is None and full_in is None
    # a higher amount in fewer steps: refilled up to the new maximum over time
    balance, _, _ = await with_allowance(make_settings, interval_seconds=1, amount=5000, steps=2)
    assert 600 <= balance.allowance <= 5000 and balance.allowance_max == 5000
    # no allowance at all: what is left is kept, nothing refills
    balance, full_in, points = await with_allowance(make_settings, interval_seconds=900,
                                                    amount=0)
    assert balance.allowance_max == 0 and balance.next_refill_at is None and full_in is None
    assert points == 15

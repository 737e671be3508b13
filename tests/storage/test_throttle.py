"""The atomic throttle and the replay guard on SQLite and PostgreSQL: parallel hits never
exceed the limit, the window ends, and both hold across separate connections to the database
(two processes, or one process before and after a restart)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from stationthis.core.db import Database, utcnow
from stationthis.core.replay import SqlReplayGuard
from stationthis.core.schema import seen_requests, throttle_counters
from stationthis.core.throttle import Allowed, Refused, SqlThrottle


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_parallel_hits_from_two_processes_never_pass_the_limit(db_url: str) -> None:
    clock = Clock()
    one, two = Database(db_url), Database(db_url)  # two processes' own connection pools
    try:
        a, b = SqlThrottle(one, clock=clock), SqlThrottle(two, clock=clock)
        verdicts = await asyncio.gather(*(
            (a if i % 2 else b).hit("signup:10.0.0.1", 5, 3600) for i in range(30)))
        assert sum(isinstance(v, Allowed) for v in verdicts) == 5
        refused = [v for v in verdicts if isinstance(v, Refused)]
        assert len(refused) == 25 and all(v.retry_after == 3600 for v in refused)
        assert isinstance(await a.hit("signup:10.0.0.2", 5, 3600), Allowed)  # other keys

        clock.now += timedelta(minutes=59)
        late = await b.hit("signup:10.0.0.1", 5, 3600)
        assert isinstance(late, Refused) and late.retry_after == 60  # the window does not move
        clock.now += timedelta(minutes=1)
        assert await a.hit("signup:10.0.0.1", 5, 3600) == Allowed(4)  # a new window

        await a.undo("signup:10.0.0.1")  # a hit given back
        assert await b.hit("signup:10.0.0.1", 5, 3600) == Allowed(4)
        long_key = "x" * 500  # hashed to fit
        assert await a.hit(long_key, 1, 60) == Allowed(0)
        assert isinstance(await b.hit(long_key, 1, 60), Refused)

        clock.now += timedelta(hours=2)
        assert await a.prune() == 3  # ended windows are forgotten
        async with one.read() as conn:
            left = (await conn.execute(select(func.count()).select_from(throttle_counters)))
            assert left.scalar_one() == 0
    finally:
        await one.dispose()
        await two.dispose()


async def test_a_key_is_new_once_even_after_a_restart(db_url: str) -> None:
    clock = Clock()
    before = Database(db_url)
    try:
        guard = SqlReplayGuard(before, clock=clock)
        firsts = await asyncio.gather(*(guard.first_time("discord:1", 600) for _ in range(10)))
        assert sorted(firsts) == [False] * 9 + [True]
    finally:
        await before.dispose()
    after = Database(db_url)  # the process restarted: nothing is remembered in memory
    try:
        guard = SqlReplayGuard(after, clock=clock)
        assert not await guard.first_time("discord:1", 600)
        assert await guard.first_time("discord:2", 600)
        clock.now += timedelta(seconds=601)  # too old to pass the freshness check anyway
        assert await guard.first_time("discord:1", 600)
        clock.now += timedelta(seconds=601)
        await guard.prune()  # expired keys are forgotten
        async with after.read() as conn:
            left = (await conn.execute(select(func.count()).select_from(seen_requests)))
            assert left.scalar_one() == 0
    finally:
        await after.dispose()

"""Periodic tasks run once per tick across processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from stationthis.core.db import Database
from stationthis.core.periodic import Periodic, Task


async def test_each_tick_runs_once_however_many_processes_ask(db_url: str) -> None:
    runs: list[str] = []

    def task(owner: str) -> Task:
        async def run() -> None:
            runs.append(owner)

        return Task("clean-up", 3600, run)

    dbs = [Database(db_url) for _ in range(4)]
    try:
        processes = [Periodic(db, f"w{i}", [task(f"w{i}")]) for i, db in enumerate(dbs)]
        for _ in range(3):  # three rounds inside one tick: still one run
            await asyncio.gather(*(p.run_due() for p in processes))
        assert len(runs) == 1
    finally:
        for db in dbs:
            await db.dispose()


async def test_a_failing_task_does_not_stop_the_others(db_url: str) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        ran.append("fine")

    db = Database(db_url)
    try:
        periodic = Periodic(db, "w", [Task("broken", 60, broken), Task("fine", 60, fine)])
        assert await periodic.run_due() == ["fine"]
        assert ran == ["fine"]
    finally:
        await db.dispose()

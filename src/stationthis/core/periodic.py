"""Periodic tasks that run once per tick across every process.

Each task has a row in ``periodic_tasks`` with the time it is next due. A process runs a
tick only if it is the one that moves ``next_at`` forward (a conditional UPDATE), so with
any number of workers each tick runs once; if that process dies mid-task, the next tick
runs as usual (the tasks are clean-ups that may safely run late or again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from stationthis.core.db import Database, utcnow
from stationthis.core.schema import periodic_tasks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]


class Periodic:
    def __init__(self, db: Database, owner: str, tasks: list[Task],
                 check_seconds: float = 30.0) -> None:
        self.db = db
        self.owner = owner
        self.tasks = tasks
        self.check_seconds = check_seconds
        self._loop: asyncio.Task[None] | None = None

    async def claim(self, task: Task) -> bool:
        """Whether this process runs the task's current tick (and moves it forward)."""
        now = utcnow()
        following = now + timedelta(seconds=task.every_seconds)
        async with self.db.write() as conn:
            moved = await conn.execute(
                update(periodic_tasks)
                .where(periodic_tasks.c.name == task.name, periodic_tasks.c.next_at <= now)
                .values(next_at=following, owner=self.owner)
            )
            if moved.rowcount:
                return True
            exists = (await conn.execute(
                select(periodic_tasks.c.name).where(periodic_tasks.c.name == task.name)
            )).first()
        if exists is not None:
            return False
        try:
            async with self.db.write() as conn:
                await conn.execute(insert(periodic_tasks).values(
                    name=task.name, next_at=following, owner=self.owner
                ))
        except IntegrityError:  # another process made the row first: its tick
            return False
        return True

    async def run_due(self) -> list[str]:
        """Run every task whose tick this process won. Returns their names."""
        ran = []
        for task in self.tasks:
            try:
                if not await self.claim(task):
                    continue
                await task.run()
                ran.append(task.name)
            except Exception:  # one failing clean-up never stops the others
                log.exception("periodic task %s failed", task.name)
        return ran

    def start(self) -> None:
        if self._loop is None and self.tasks:
            self._loop = asyncio.create_task(self._run(), name="periodic")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _run(self) -> None:
        while True:
            await self.run_due()
            await asyncio.sleep(self.check_seconds)

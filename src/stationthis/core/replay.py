"""Replay protection: a key (e.g. a signed request's id) is accepted once while it could
still be replayed.

``ReplayGuard`` is the port: ``first_time(key, ttl_seconds)`` is True for the first caller
only, atomically, and remembers the key for ``ttl_seconds``. ``SqlReplayGuard`` remembers in
the database (insert-if-absent), so a captured request is refused again after a restart and
by every process; expired keys are deleted now and then. A Redis implementation
(``SET key 1 NX EX ttl``) can replace it without changing callers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, literal
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationthis.core.db import Database, utcnow
from stationthis.core.schema import TS, seen_requests
from stationthis.core.throttle import stored_key

PRUNE_EVERY = timedelta(minutes=10)


class ReplayGuard(Protocol):
    async def first_time(self, key: str, ttl_seconds: float) -> bool:
        """True the first time ``key`` is seen within ``ttl_seconds``; False for a replay."""
        ...


class SqlReplayGuard:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self._pruned: datetime | None = None

    async def first_time(self, key: str, ttl_seconds: float) -> bool:
        now = self.clock()
        t = seen_requests
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        stmt = insert(t).values(key=stored_key(key),
                                expires_at=now + timedelta(seconds=ttl_seconds))
        # A key whose memory has expired is new again (its row is simply renewed).
        upsert = stmt.on_conflict_do_update(
            index_elements=[t.c.key], set_={"expires_at": stmt.excluded.expires_at},
            where=t.c.expires_at <= literal(now, TS),
        ).returning(t.c.key)
        async with self.db.write() as conn:
            fresh = (await conn.execute(upsert)).first() is not None
        if self._pruned is None or now - self._pruned > PRUNE_EVERY:
            self._pruned = now
            await self.prune()
        return fresh

    async def prune(self) -> int:
        """Forget expired keys; how many."""
        t = seen_requests
        async with self.db.write() as conn:
            done = await conn.execute(delete(t).where(t.c.expires_at <= literal(self.clock(), TS)))
        return int(done.rowcount or 0)

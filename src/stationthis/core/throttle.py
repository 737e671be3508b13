"""An atomic throttle: at most ``limit`` hits per key in a fixed window of time.

``Throttle`` is the port: one call, ``hit``, counts an attempt and says whether it is allowed,
in one atomic step, so parallel requests can never all slip in under the limit; ``undo``
gives a hit back (an attempt that turned out not to count, e.g. a right code when only wrong
ones are limited). ``SqlThrottle`` keeps the counters in the database (one upsert per hit),
so the limit holds across restarts and across processes on SQLite and PostgreSQL; a Redis
implementation (INCR + EXPIRE) can replace it without changing callers.

Keys name what is limited, e.g. ``signup:<address>`` or ``link:<account id>``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from stationthis.core.db import Database, as_utc, utcnow
from stationthis.core.schema import TS, throttle_counters

MAX_KEY = 200
PRUNE_EVERY = timedelta(hours=1)  # ended windows are deleted now and then


@dataclass(frozen=True)
class Allowed:
    remaining: int  # hits still allowed in this window


@dataclass(frozen=True)
class Refused:
    retry_after: int  # whole seconds (≥ 1) until the window ends


class Throttle(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: float) -> Allowed | Refused:
        """Count one attempt for ``key``; refused when it is more than ``limit`` within
        the window that the first counted attempt opened."""
        ...

    async def undo(self, key: str) -> None:
        """Give back one hit of the current window (nothing when there is none)."""
        ...


def wait_text(seconds: int) -> str:
    """How long to wait, for a person: ``45 s``, ``12 min``."""
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"


def stored_key(key: str) -> str:
    """Keys are stored as they are, or hashed when they are too long for the column."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class SqlThrottle:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self._pruned: datetime | None = None

    async def hit(self, key: str, limit: int, window_seconds: float) -> Allowed | Refused:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a throttle needs limit ≥ 1 and a window > 0")
        key, now = stored_key(key), self.clock()
        ends = now + timedelta(seconds=window_seconds)
        t = throttle_counters
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        stmt = insert(t).values(key=key, hits=1, resets_at=ends)
        over = t.c.resets_at <= literal(now, TS)  # the stored window has ended: a new one
        upsert = stmt.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={"hits": case((over, 1), else_=t.c.hits + 1),
                  "resets_at": case((over, literal(ends, TS)), else_=t.c.resets_at)},
        ).returning(t.c.hits, t.c.resets_at)
        async with self.db.write() as conn:
            hits, resets_at = (await conn.execute(upsert)).one()
        if self._pruned is None or now - self._pruned > PRUNE_EVERY:
            self._pruned = now
            await self.prune()
        if hits <= limit:
            return Allowed(limit - hits)
        wait = (as_utc(resets_at) - now).total_seconds()
        return Refused(max(1, math.ceil(wait)))

    async def undo(self, key: str) -> None:
        t = throttle_counters
        async with self.db.write() as conn:
            await conn.execute(update(t).where(
                t.c.key == stored_key(key), t.c.hits > 0, t.c.resets_at > literal(self.clock(), TS)
            ).values(hits=t.c.hits - 1))

    async def prune(self) -> int:
        """Forget the counters of windows that have ended; how many."""
        t = throttle_counters
        async with self.db.write() as conn:
            done = await conn.execute(delete(t).where(t.c.resets_at <= literal(self.clock(), TS)))
        return int(done.rowcount or 0)

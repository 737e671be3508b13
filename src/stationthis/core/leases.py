"""Job leases: the ``jobs`` table is the queue, and a worker owns a job by its lease.

A worker *claims* runnable jobs (queued, or unfinished with an expired or absent lease) in
one write transaction — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the single writer on
SQLite — fairest first: the owner with the fewest jobs running now goes first. It *renews*
its leases with one statement per heartbeat, which also tells it which of its jobs a user
asked to cancel, and *hands back* the jobs it cannot finish when it stops. Every transition
it makes is fenced on ``lease_owner`` (``JobService``), so a worker that lost its lease —
killed, paused, cut off — can neither finish nor charge a job that another worker resumed.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, utcnow
from stationthis.core.jobs import ACTIVE, Job, job_from_row
from stationthis.core.schema import jobs, workers

CHUNK = 500  # ids per IN (…): SQLite allows 32,766 bound values, keep statements small


def new_worker_id(role: str) -> str:
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@functools.cache
def _claim_query(only: bool, lock: bool) -> Any:
    """The runnable jobs, fairest first (built once per shape: a worker polls with it)."""
    now = bindparam("now", type_=jobs.c.lease_expires_at.type)
    # Jobs running now per owner, counted once (a grouped subquery, not a count per
    # candidate: with thousands queued that was a quadratic scan).
    running_now = (
        select(jobs.c.owner_id.label("owner_id"), func.count().label("n"))
        .where(jobs.c.state.in_(ACTIVE), jobs.c.lease_owner.is_not(None),
               jobs.c.lease_expires_at >= now)
        .group_by(jobs.c.owner_id)
        .subquery("running_now")
    )
    free = or_(jobs.c.lease_owner.is_(None), jobs.c.lease_expires_at < now)
    query = (
        select(jobs.c.id)
        .select_from(jobs.outerjoin(running_now, running_now.c.owner_id == jobs.c.owner_id))
        .where(jobs.c.state.in_(ACTIVE), free)
    )
    if only:
        query = query.where(jobs.c.id.in_(bindparam("only", expanding=True)))
    query = query.order_by(
        func.coalesce(running_now.c.n, 0), jobs.c.created_at, jobs.c.id
    ).limit(bindparam("limit"))
    return query.with_for_update(skip_locked=True, of=jobs) if lock else query


_TAKE = (
    update(jobs).where(jobs.c.id.in_(bindparam("ids", expanding=True)))
    .values(lease_owner=bindparam("worker"), lease_expires_at=bindparam("until"))
    .returning(*jobs.c)
)


class JobLeases:
    def __init__(self, db: Database, lease_seconds: float = 30.0) -> None:
        self.db = db
        self.lease_seconds = lease_seconds

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_seconds)

    async def claim(
        self, worker: str, limit: int, *, only: Collection[str] | None = None
    ) -> list[Job]:
        """Take up to ``limit`` runnable jobs for ``worker``; fairest first."""
        if limit <= 0 or (only is not None and not only):
            return []
        now = utcnow()
        query = _claim_query(only is not None, not self.db.is_sqlite)
        params: dict[str, object] = {"now": now, "limit": limit}
        if only is not None:
            params["only"] = list(only)[:CHUNK]
        async with self.db.write() as conn:
            ids = list((await conn.execute(query, params)).scalars())
            if not ids:
                return []
            rows = (await conn.execute(_TAKE, {"ids": ids, "worker": worker,
                                               "until": self._until(now)})).all()
        claimed = [job_from_row(row) for row in rows]
        order = {job_id: i for i, job_id in enumerate(ids)}
        return sorted(claimed, key=lambda job: order[job.id])

    async def renew(self, worker: str, job_ids: Iterable[str]) -> tuple[set[str], set[str]]:
        """Extend the worker's leases. Returns (jobs still ours, of those the ones a user
        asked to cancel). A job missing from the first set is lost: stop following it."""
        ids = list(job_ids)
        kept: set[str] = set()
        cancel: set[str] = set()
        now = utcnow()
        async with self.db.write() as conn:
            for start in range(0, len(ids), CHUNK):
                rows = await conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(ids[start:start + CHUNK]), jobs.c.lease_owner == worker,
                           jobs.c.state.in_(ACTIVE))
                    .values(lease_expires_at=self._until(now))
                    .returning(jobs.c.id, jobs.c.cancel_requested)
                )
                for job_id, cancel_requested in rows.all():
                    kept.add(job_id)
                    if cancel_requested:
                        cancel.add(job_id)
            await self._beat(conn, worker, len(kept), now)
        return kept, cancel

    async def hand_back(self, worker: str, job_ids: Iterable[str]) -> int:
        """Give jobs back (a worker stopping): another worker resumes them at once."""
        ids = list(job_ids)
        count = 0
        async with self.db.write() as conn:
            for start in range(0, len(ids), CHUNK):
                result = await conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(ids[start:start + CHUNK]), jobs.c.lease_owner == worker)
                    .values(lease_owner=None, lease_expires_at=None)
                )
                count += result.rowcount or 0
        return count

    # ----- the workers table -------------------------------------------------------------

    async def register(self, worker: str, role: str, slots: int) -> None:
        """Record this worker; expire the leases of dead workers of this host at once."""
        now = utcnow()
        host = socket.gethostname()
        async with self.db.write() as conn:
            await conn.execute(delete(workers).where(workers.c.id == worker))  # a restart
            await conn.execute(insert(workers).values(
                id=worker, role=role, host=host, pid=os.getpid(), slots=slots, running=0,
                started_at=now, heartbeat_at=now,
            ))
            dead = [
                row.id for row in (await conn.execute(
                    select(workers.c.id, workers.c.pid)
                    .where(workers.c.host == host, workers.c.stopped_at.is_(None),
                           workers.c.id != worker)
                )).all()
                if not _alive(row.pid)
            ]
            if dead:
                await conn.execute(
                    update(workers).where(workers.c.id.in_(dead)).values(stopped_at=now)
                )
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.lease_owner.in_(dead), jobs.c.state.in_(ACTIVE))
                    .values(lease_expires_at=now - timedelta(seconds=1))
                )

    async def unregister(self, worker: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(workers).where(workers.c.id == worker)
                .values(stopped_at=utcnow(), running=0)
            )

    async def _beat(self, conn: AsyncConnection, worker: str, running: int,
                    now: datetime) -> None:
        await conn.execute(
            update(workers).where(workers.c.id == worker)
            .values(heartbeat_at=now, running=running)
        )

    async def prune_stopped(self, older_than_days: float = 7) -> int:
        """Forget workers that stopped (or went silent) more than a few days ago."""
        before = utcnow() - timedelta(days=older_than_days)
        async with self.db.write() as conn:
            result = await conn.execute(
                delete(workers).where(workers.c.heartbeat_at < before)
            )
        return result.rowcount or 0

    async def live_workers(self, within_seconds: float | None = None) -> list[dict[str, object]]:
        """Workers whose heartbeat is recent (for the health page and the admin)."""
        since = utcnow() - timedelta(seconds=within_seconds or self.lease_seconds)
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(workers).where(and_(workers.c.stopped_at.is_(None),
                                           workers.c.heartbeat_at >= since))
                .order_by(workers.c.started_at)
            )).all()
        return [dict(row._mapping) for row in rows]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

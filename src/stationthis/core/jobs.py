"""Jobs: one state machine for every long task; the ``jobs`` row is the source of truth.

    queued → [preparing] → running(progress) → uploading → succeeded | failed | cancelled

(``preparing`` is a training's step of gathering and packing its dataset.)

Every transition is a conditional UPDATE (``WHERE state IN (…)``), so two processes can
never both finish a job; the ledger settles in the same transaction as the final state.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import Database, as_utc, new_id, utcnow
from .errors import Conflict, NotFound, TooManyJobs
from .events import (
    EventBus,
    JobCancelled,
    JobCancelRequested,
    JobFailed,
    JobProgressed,
    JobQueued,
    JobSucceeded,
    OutboxRelay,
    PointsCaptured,
    add_to_outbox,
)
from .points import Ledger
from .schema import jobs
from .signals import LocalSignals, Signals

ACTIVE = ("queued", "preparing", "running", "uploading")
FINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    id: str
    owner_id: str
    payer_id: str
    tool: str
    category: str
    params: dict[str, Any]
    inputs: dict[str, str]
    state: str
    progress: dict[str, Any]
    engine: str
    run_id: str | None
    run_data: dict[str, Any] | None
    quote: int
    cost: int | None
    outputs: list[str]
    error: str | None
    error_code: str | None
    reply: dict[str, Any] | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    group_id: str | None = None
    parent_id: str | None = None
    origin: str | None = None  # regenerate | variation | tweak | None (a new request)
    tool_version: str | None = None
    lease_owner: str | None = None  # the worker running it now (core/leases.py)

    @property
    def ref(self) -> str:
        return f"job:{self.id}"

    @property
    def finished(self) -> bool:
        return self.state in FINAL


@dataclass(frozen=True)
class NewJob:
    owner_id: str
    payer_id: str
    tool: str
    category: str
    params: dict[str, Any]
    quote: int
    engine: str
    inputs: dict[str, str] | None = None
    reply: dict[str, Any] | None = None
    group_id: str | None = None
    parent_id: str | None = None
    origin: str | None = None
    tool_version: str | None = None


class JobService:
    def __init__(
        self, db: Database, ledger: Ledger, bus: EventBus, relay: OutboxRelay,
        max_active_per_user: int = 3, signals: Signals | None = None,
    ) -> None:
        self.db = db
        self.signals: Signals = signals or LocalSignals()
        self.ledger = ledger
        self.bus = bus
        self.relay = relay
        self.max_active_per_user = max_active_per_user
        self._finished: dict[str, asyncio.Event] = {}

    # ----- creating ----------------------------------------------------------------------

    async def create(self, new: NewJob) -> Job:
        """Insert a queued job and hold its quote, atomically. Refused when the user already
        has ``max_active_per_user`` unfinished jobs or the payer's balance is short."""
        job_id = new_id()
        now = utcnow()
        async with self.db.write() as conn:
            # Owner and payer first: serialises the count below per user, and avoids a
            # PostgreSQL deadlock between the insert's foreign-key lock and the hold.
            await self.ledger.lock(conn, new.owner_id, new.payer_id)
            active = (
                await conn.execute(
                    select(func.count())
                    .select_from(jobs)
                    .where(jobs.c.owner_id == new.owner_id, jobs.c.state.in_(ACTIVE))
                )
            ).scalar_one()
            if active >= self.max_active_per_user:
                raise TooManyJobs(
                    f"You already have {active} jobs waiting or running (the limit is "
                    f"{self.max_active_per_user}). Wait for one to finish or cancel one.",
                    active=active, limit=self.max_active_per_user,
                )
            await conn.execute(
                insert(jobs).values(
                    id=job_id, owner_id=new.owner_id, payer_id=new.payer_id, tool=new.tool,
                    category=new.category, params=new.params, inputs=new.inputs or {},
                    state="queued", progress={}, engine=new.engine, quote=new.quote,
                    outputs=[], reply=new.reply, cancel_requested=False,
                    group_id=new.group_id, parent_id=new.parent_id, origin=new.origin,
                    tool_version=new.tool_version, created_at=now, updated_at=now,
                )
            )
            await self.ledger.hold(
                conn, new.payer_id, new.quote, ref=f"job:{job_id}", memo=f"{new.tool} job"
            )
            await add_to_outbox(
                conn,
                JobQueued(job_id=job_id, owner_id=new.owner_id, reply=new.reply,
                          tool=new.tool, quote=new.quote),
            )
        self.relay.kick()
        return await self.get(job_id)

    # ----- reading -----------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        async with self.db.read() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        if row is None:
            raise NotFound("no such job")
        return _job(row)

    async def get_owned(self, job_id: str, owner_id: str) -> Job:
        """A job as seen by a user: someone else's job does not exist for them."""
        job = await self.get(job_id)
        if job.owner_id != owner_id:
            raise NotFound("no such job")
        return job

    async def list_for(
        self, owner_id: str, *, states: tuple[str, ...] | None = None, limit: int = 20,
        before: Job | None = None,
    ) -> list[Job]:
        """A user's jobs, newest first; with ``before``, only those older than that job (the
        next page of a list that ended with it)."""
        query = select(jobs).where(jobs.c.owner_id == owner_id)
        if states:
            query = query.where(jobs.c.state.in_(states))
        if before is not None:
            query = query.where((jobs.c.created_at < before.created_at) | (
                (jobs.c.created_at == before.created_at) & (jobs.c.id > before.id)))
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        async with self.db.read() as conn:
            return [_job(r) for r in (await conn.execute(query)).all()]

    async def recent(self, owner_id: str, *, limit: int = 10, tool: str | None = None) -> list[Job]:
        """A user's newest jobs, newest first, optionally of one tool only."""
        query = select(jobs).where(jobs.c.owner_id == owner_id)
        if tool is not None:
            query = query.where(jobs.c.tool == tool)
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        async with self.db.read() as conn:
            return [_job(r) for r in (await conn.execute(query)).all()]

    async def queue_position(self, job: Job) -> int | None:
        """1 for the next queued job of all users' queued jobs (oldest first); None when the
        job is not queued."""
        if job.state != "queued":
            return None
        earlier = (jobs.c.created_at < job.created_at) | (
            (jobs.c.created_at == job.created_at) & (jobs.c.id < job.id)
        )
        async with self.db.read() as conn:
            ahead = (
                await conn.execute(
                    select(func.count()).select_from(jobs)
                    .where(jobs.c.state == "queued", earlier)
                )
            ).scalar_one()
        return int(ahead) + 1

    async def average_run_seconds(self, tool: str, last: int = 20) -> float | None:
        """Mean run time (started → finished) of the tool's last ``last`` succeeded jobs."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(jobs.c.started_at, jobs.c.finished_at)
                    .where(jobs.c.tool == tool, jobs.c.state == "succeeded",
                           jobs.c.started_at.is_not(None), jobs.c.finished_at.is_not(None))
                    .order_by(jobs.c.finished_at.desc()).limit(last)
                )
            ).all()
        spans = [(as_utc(f) - as_utc(s)).total_seconds() for s, f in rows]
        return sum(spans) / len(spans) if spans else None

    async def unfinished(self) -> list[Job]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(jobs).where(jobs.c.state.in_(ACTIVE)).order_by(jobs.c.created_at)
            )
            return [_job(r) for r in rows.all()]

    # ----- transitions -------------------------------------------------------------------

    async def mark_running(
        self, job_id: str, run_id: str, run_data: dict[str, Any] | None = None,
        *, worker: str | None = None,
    ) -> bool:
        async with self.db.write() as conn:
            return await self._move(
                conn, job_id, ("queued", "preparing", "running"), "running", fence=worker,
                run_id=run_id, run_data=run_data, started_at=utcnow(),
            )

    async def mark_preparing(self, job_id: str, *, worker: str | None = None) -> bool:
        """queued → preparing: gathering a training's dataset before the engine starts."""
        async with self.db.write() as conn:
            return await self._move(
                conn, job_id, ("queued",), "preparing", fence=worker, started_at=utcnow()
            )

    async def mark_uploading(self, job_id: str, *, worker: str | None = None) -> bool:
        async with self.db.write() as conn:
            return await self._move(
                conn, job_id, ("running", "uploading"), "uploading", fence=worker
            )

    async def update_run(
        self, job_id: str, run_data: dict[str, Any], *, worker: str | None = None
    ) -> None:
        """The engine moved the run (e.g. failover to another server)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state.in_(ACTIVE), *_fence(worker))
                .values(run_data=run_data, updated_at=utcnow())
            )

    async def report_progress(
        self, job: Job, progress: dict[str, Any], preview: bytes | None = None,
        *, worker: str | None = None,
    ) -> None:
        async with self.db.write() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.state.in_(ACTIVE), *_fence(worker))
                .values(progress=progress, updated_at=utcnow())
            )
        if not result.rowcount:
            return  # finished meanwhile, or another worker owns it now
        await self.bus.publish(
            JobProgressed(job_id=job.id, owner_id=job.owner_id, reply=job.reply,
                          state=job.state, progress=progress, preview=preview)
        )

    async def succeed(
        self, job_id: str, outputs: list[str], cost: int, *, worker: str | None = None
    ) -> Job:
        """Store the outcome and charge. A job whose cancel was requested before its result
        was stored ends cancelled instead, and costs nothing."""
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if job.finished or not _holds(job, worker):
                return job
            if job.cancel_requested:
                await self._cancel_in(conn, job)
            else:
                charged = await self.ledger.settle(conn, job.ref, cost)
                await self._move(
                    conn, job_id, ACTIVE, "succeeded", outputs=outputs, cost=charged,
                    finished_at=utcnow(), progress={**job.progress, "percent": 100},
                )
                await add_to_outbox(
                    conn, JobSucceeded(job_id=job_id, owner_id=job.owner_id, reply=job.reply,
                                       outputs=outputs, cost=charged)
                )
                await add_to_outbox(
                    conn, PointsCaptured(account_id=job.payer_id, ref=job.ref, amount=charged)
                )
        return await self._finish(job_id)

    async def fail(
        self, job_id: str, message: str, code: str = "engine_failed",
        *, worker: str | None = None,
    ) -> Job:
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if job.finished or not _holds(job, worker):
                return job
            released = await self.ledger.release(conn, job.ref, memo=f"{code}: {message}"[:300])
            await self._move(
                conn, job_id, ACTIVE, "failed", error=message, error_code=code,
                finished_at=utcnow(),
            )
            await add_to_outbox(
                conn, JobFailed(job_id=job_id, owner_id=job.owner_id, reply=job.reply,
                                error=message, code=code, released=released)
            )
        return await self._finish(job_id)

    async def cancel(self, job_id: str, owner_id: str | None = None) -> Job:
        """Cancel a job: a queued job ends at once; a running one is asked to stop and ends
        when its engine confirms (``mark_cancelled``). The whole hold is released."""
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if owner_id is not None and job.owner_id != owner_id:
                raise NotFound("no such job")
            if job.finished:
                raise Conflict(f"that job has already {job.state}")
            if job.state != "queued":
                await conn.execute(
                    update(jobs).where(jobs.c.id == job_id).values(cancel_requested=True)
                )
        if job.state == "queued":
            return await self.mark_cancelled(job_id)
        await self.bus.publish(
            JobCancelRequested(job_id=job.id, owner_id=job.owner_id, reply=job.reply)
        )
        await self.signals.publish("cancel", {"job_id": job.id})
        return await self.get(job_id)

    async def mark_cancelled(self, job_id: str, *, worker: str | None = None) -> Job:
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if job.finished or not _holds(job, worker):
                return job
            await self._cancel_in(conn, job)
        return await self._finish(job_id)

    async def _cancel_in(self, conn: AsyncConnection, job: Job) -> None:
        released = await self.ledger.release(conn, job.ref, memo="cancelled")
        await self._move(
            conn, job.id, ACTIVE, "cancelled", cancel_requested=True, finished_at=utcnow()
        )
        await add_to_outbox(
            conn, JobCancelled(job_id=job.id, owner_id=job.owner_id, reply=job.reply,
                               released=released)
        )

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait until the job is finished (in this process or any other)."""
        async with asyncio.timeout(timeout):
            while True:
                job = await self.get(job_id)
                if job.finished:
                    return job
                done = self._finished.setdefault(job_id, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.5)

    # ----- internals ---------------------------------------------------------------------

    async def _finish(self, job_id: str) -> Job:
        self.relay.kick()
        event = self._finished.pop(job_id, None)
        if event is not None:
            event.set()
        return await self.get(job_id)

    async def _locked(self, conn: AsyncConnection, job_id: str) -> Job:
        row = (
            await conn.execute(select(jobs).where(jobs.c.id == job_id).with_for_update())
        ).first()
        if row is None:
            raise NotFound("no such job")
        return _job(row)

    async def _move(
        self, conn: AsyncConnection, job_id: str, sources: tuple[str, ...], target: str,
        *, fence: str | None = None, **values: Any,
    ) -> bool:
        result = await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.state.in_(sources), *_fence(fence))
            .values(state=target, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount)


def _fence(worker: str | None) -> tuple[Any, ...]:
    """A worker's write applies only while it holds the job's lease."""
    return () if worker is None else (jobs.c.lease_owner == worker,)


def _holds(job: Job, worker: str | None) -> bool:
    return worker is None or job.lease_owner == worker


def job_from_row(row: Any) -> Job:
    def ts(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    return Job(
        id=row.id, owner_id=row.owner_id, payer_id=row.payer_id, tool=row.tool,
        category=row.category, params=dict(row.params), inputs=dict(row.inputs or {}),
        state=row.state, progress=dict(row.progress or {}), engine=row.engine,
        run_id=row.run_id, run_data=row.run_data, quote=row.quote, cost=row.cost,
        outputs=list(row.outputs or []), error=row.error, error_code=row.error_code,
        reply=row.reply, cancel_requested=bool(row.cancel_requested),
        created_at=as_utc(row.created_at), started_at=ts(row.started_at),
        finished_at=ts(row.finished_at), group_id=row.group_id, parent_id=row.parent_id,
        origin=row.origin, tool_version=row.tool_version, lease_owner=row.lease_owner,
    )


_job = job_from_row

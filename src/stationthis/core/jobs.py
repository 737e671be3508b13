"""Jobs: one state machine for every long task; the ``jobs`` row is the source of truth.

    queued → [preparing] → running(progress) → uploading → succeeded | failed | cancelled

(``preparing`` is a training's step of gathering and packing its dataset.)

Every transition is a conditional UPDATE (``WHERE state IN (…)``), so two processes can
never both finish a job; the ledger settles in the same transaction as the final state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, new_id, utcnow
from stationthis.core.errors import Conflict, NotFound, TooManyJobs
from stationthis.core.events import (
    Event,
    EventBus,
    JobCancelled,
    JobCancelRequested,
    JobFailed,
    JobProgressed,
    JobQueued,
    JobSucceeded,
    OutboxRelay,
    PointsCaptured,
    add_all_to_outbox,
)
from stationthis.core.job_reads import JobReads
from stationthis.core.jobs_model import ACTIVE, FINAL, Job, JobState, NewJob, job_from_row
from stationthis.core.media import Staged, record_staged
from stationthis.core.points import Ledger
from stationthis.core.replies import as_reply, reply_json
from stationthis.core.schema import jobs
from stationthis.core.signals import LocalSignals, Signals


class JobService(JobReads):
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
        reply = as_reply(new.reply)  # typed; a JSON-shaped one is read (BadReply if not)
        async with self.db.write() as conn:
            # Owner and payer first: serialises the count below per user, and avoids a
            # PostgreSQL deadlock between the insert's foreign-key lock and the hold.
            locked = await self.ledger.lock(conn, new.owner_id, new.payer_id)
            active = (await conn.execute(_ACTIVE_COUNT, {"owner_id": new.owner_id})).scalar_one()
            if active >= self.max_active_per_user:
                raise TooManyJobs(
                    f"You already have {active} jobs waiting or running (the limit is "
                    f"{self.max_active_per_user}). Wait for one to finish or cancel one.",
                    active=active, limit=self.max_active_per_user,
                )
            await conn.execute(_INSERT, {
                "id": job_id, "owner_id": new.owner_id, "payer_id": new.payer_id,
                "tool": new.tool, "category": new.category, "params": new.params,
                "inputs": new.inputs or {}, "state": "queued", "progress": {},
                "engine": new.engine, "quote": new.quote, "outputs": [],
                "reply": reply_json(reply), "cancel_requested": False,
                "group_id": new.group_id, "parent_id": new.parent_id, "origin": new.origin,
                "tool_version": new.tool_version, "created_at": now, "updated_at": now,
                "lease_owner": new.lease.worker if new.lease else None,
                "lease_expires_at": new.lease.until if new.lease else None,
            })
            await self.ledger.hold(
                conn, new.payer_id, new.quote, ref=f"job:{job_id}", memo=f"{new.tool} job",
                locked=locked[new.payer_id],
            )
            events = [JobQueued(job_id=job_id, owner_id=new.owner_id, reply=reply,
                                tool=new.tool, quote=new.quote, category=new.category,
                                origin=new.origin)]
            await self._outbox(conn, events)
        await self._published(events)
        return Job(  # what the row now says, without reading it back
            id=job_id, owner_id=new.owner_id, payer_id=new.payer_id, tool=new.tool,
            category=new.category, params=dict(new.params), inputs=dict(new.inputs or {}),
            state=JobState.QUEUED, progress={}, engine=new.engine, run_id=None, run_data=None,
            quote=new.quote, cost=None, outputs=[], error=None, error_code=None,
            reply=reply, cancel_requested=False, created_at=now, started_at=None,
            finished_at=None, group_id=new.group_id, parent_id=new.parent_id,
            origin=new.origin, tool_version=new.tool_version,
            lease_owner=new.lease.worker if new.lease else None,
        )

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

    async def start_running(
        self, job: Job, run_id: str, run_data: dict[str, Any] | None = None,
        *, worker: str | None = None,
    ) -> Job | None:
        """``mark_running`` that answers with the job as it is now (a cancel asked meanwhile
        included), without reading it again; None when the job moved on without us."""
        now = utcnow()
        values = {"state": "running", "updated_at": now, "run_id": run_id,
                  "run_data": run_data, "started_at": now}
        async with self.db.write() as conn:
            row = (await conn.execute(
                _moving(("queued", "preparing", "running"), worker is not None, tuple(values),
                        returning=True),
                {"_id": job.id, "_worker": worker, **{f"v_{k}": v for k, v in values.items()}},
            )).first()
        if row is None:
            return None
        return replace(job, state=JobState.RUNNING, run_id=run_id, run_data=run_data,
                       started_at=now, cancel_requested=bool(row.cancel_requested))

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
        *, worker: str | None = None, store: bool = True,
    ) -> None:
        """Store the progress on the row and publish it; ``store=False`` only publishes
        (what the row says already, e.g. "started" right after ``start_running``)."""
        if store:
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
                          state=job.state, progress=progress, preview=preview,
                          category=job.category, origin=job.origin)
        )

    async def succeed(
        self, job_id: str, outputs: list[str], cost: int, *, worker: str | None = None,
        staged: Sequence[Staged] = (),
    ) -> Job:
        """Store the outcome and charge. A job whose cancel was requested before its result
        was stored ends cancelled instead, and costs nothing.

        ``staged``: outputs whose files are stored but whose media rows are not; the rows
        are written in this transaction, only if the job succeeds here (the answer's
        ``outputs`` then are theirs; otherwise the caller discards the files)."""
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if job.finished or not _holds(job, worker):
                return job
            if job.cancel_requested:
                events, done = await self._cancel_in(conn, job)
            else:
                charged = await self.ledger.settle(conn, job.ref, cost)
                await record_staged(conn, staged)
                now = utcnow()
                progress = {**job.progress, "percent": 100}
                await self._move(
                    conn, job_id, ACTIVE, "succeeded", outputs=outputs, cost=charged,
                    finished_at=now, progress=progress,
                )
                events = [
                    JobSucceeded(job_id=job_id, owner_id=job.owner_id, reply=job.reply,
                                 outputs=outputs, cost=charged, category=job.category,
                                 origin=job.origin, **_times(job, now)),
                    PointsCaptured(account_id=job.payer_id, ref=job.ref, amount=charged),
                ]
                await self._outbox(conn, events)
                done = replace(job, state=JobState.SUCCEEDED, outputs=list(outputs), cost=charged,
                               finished_at=now, progress=progress)
        return await self._finish(done, events)

    async def fail(
        self, job_id: str, message: str, code: str = "engine_failed",
        *, worker: str | None = None,
    ) -> Job:
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if job.finished or not _holds(job, worker):
                return job
            released = await self.ledger.release(conn, job.ref, memo=f"{code}: {message}"[:300])
            now = utcnow()
            await self._move(
                conn, job_id, ACTIVE, "failed", error=message, error_code=code, finished_at=now,
            )
            failed: list[Event] = [
                JobFailed(job_id=job_id, owner_id=job.owner_id, reply=job.reply,
                          error=message, code=code, released=released,
                          category=job.category, origin=job.origin, **_times(job, now))
            ]
            await self._outbox(conn, failed)
        return await self._finish(
            replace(job, state=JobState.FAILED, error=message, error_code=code, finished_at=now),
            failed,
        )

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
            JobCancelRequested(job_id=job.id, owner_id=job.owner_id, reply=job.reply,
                               category=job.category, origin=job.origin)
        )
        await self.signals.publish("cancel", {"job_id": job.id})
        return await self.get(job_id)

    async def mark_cancelled(self, job_id: str, *, worker: str | None = None) -> Job:
        async with self.db.write() as conn:
            job = await self._locked(conn, job_id)
            if job.finished or not _holds(job, worker):
                return job
            events, done = await self._cancel_in(conn, job)
        return await self._finish(done, events)

    async def _cancel_in(self, conn: AsyncConnection, job: Job) -> tuple[Sequence[Event], Job]:
        released = await self.ledger.release(conn, job.ref, memo="cancelled")
        now = utcnow()
        await self._move(conn, job.id, ACTIVE, "cancelled", cancel_requested=True,
                         finished_at=now)
        events: list[Event] = [JobCancelled(job_id=job.id, owner_id=job.owner_id,
                                            reply=job.reply, released=released,
                                            category=job.category, origin=job.origin,
                                            **_times(job, now))]
        await self._outbox(conn, events)
        done = replace(job, state=JobState.CANCELLED, cancel_requested=True, finished_at=now)
        return events, done

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

    async def _outbox(self, conn: AsyncConnection, events: Sequence[Event]) -> None:
        """Write events to the outbox; claimed for this process when its relay runs, so it
        publishes them itself right after the commit (``_published``)."""
        await add_all_to_outbox(conn, events, claimed=self.relay.running)

    async def _published(self, events: Sequence[Event]) -> None:
        if self.relay.running:
            await self.relay.publish_now(events)
        else:
            self.relay.kick()

    async def _finish(self, job: Job, events: Sequence[Event]) -> Job:
        await self._published(events)
        waiting = self._finished.pop(job.id, None)
        if waiting is not None:
            waiting.set()
        return job

    async def _locked(self, conn: AsyncConnection, job_id: str) -> Job:
        row = (await conn.execute(_LOCKED, {"id": job_id})).first()
        if row is None:
            raise NotFound("no such job")
        return _job(row)

    async def _move(
        self, conn: AsyncConnection, job_id: str, sources: tuple[str, ...], target: str,
        *, fence: str | None = None, **values: Any,
    ) -> bool:
        values = {"state": target, "updated_at": utcnow(), **values}
        result = await conn.execute(
            _moving(sources, fence is not None, tuple(values)),
            {"_id": job_id, "_worker": fence, **{f"v_{k}": v for k, v in values.items()}},
        )
        return bool(result.rowcount)


# The statements of every job's path, built once: building one per call costs more Python
# than SQLite spends running it (its expressions, then its cache key).
_ACTIVE_COUNT = select(func.count()).select_from(jobs).where(
    jobs.c.owner_id == bindparam("owner_id"), jobs.c.state.in_(ACTIVE))
_INSERT = insert(jobs)
_LOCKED = select(jobs).where(jobs.c.id == bindparam("id")).with_for_update()


@functools.cache
def _moving(sources: tuple[str, ...], fenced: bool, columns: tuple[str, ...],
            returning: bool = False) -> Any:
    """``UPDATE jobs SET <columns> WHERE id = :_id AND state IN <sources> [AND lease_owner =
    :_worker]`` (values bound as ``v_<column>``), one per shape."""
    where = [jobs.c.id == bindparam("_id"), jobs.c.state.in_(sources)]
    if fenced:
        where.append(jobs.c.lease_owner == bindparam("_worker"))
    statement = update(jobs).where(*where).values(
        {c: bindparam(f"v_{c}", type_=jobs.c[c].type) for c in columns})
    return statement.returning(jobs.c.cancel_requested) if returning else statement


def _times(job: Job, now: datetime) -> dict[str, Any]:
    """A final event's ``tool``, ``waited`` and ``ran`` (``JobFinished``)."""
    started = job.started_at
    return {"tool": job.tool,
            "waited": (started - job.created_at).total_seconds() if started else None,
            "ran": (now - started).total_seconds() if started else None}


def _fence(worker: str | None) -> tuple[Any, ...]:
    """A worker's write applies only while it holds the job's lease."""
    return () if worker is None else (jobs.c.lease_owner == worker,)


def _holds(job: Job, worker: str | None) -> bool:
    return worker is None or job.lease_owner == worker


_job = job_from_row
__all__ = ["ACTIVE", "FINAL", "Job", "JobService", "JobState", "NewJob", "job_from_row"]

"""Reading jobs: one row, a user's lists, the queue's figures. (``JobService`` adds the
writes; it is the one object callers hold.)"""

from __future__ import annotations

from sqlalchemy import func, select

from stationthis.core.db import Database, as_utc
from stationthis.core.errors import NotFound
from stationthis.core.jobs_model import ACTIVE, Job, job_from_row
from stationthis.core.schema import jobs

_job = job_from_row


class JobReads:
    db: Database

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


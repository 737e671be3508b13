"""Status: a user's queued and running jobs with their place in the queue and an ETA, and
cancelling any of them (the whole hold is released).

The ETA is an estimate from the tool's past: the average run time of its last 20 succeeded
jobs × (jobs ahead + 1 − progress). Jobs ahead are all users' queued jobs created earlier.
With no history for the tool there is no ETA (None), rather than a made-up number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stationthis.core.errors import Conflict
from stationthis.core.jobs import ACTIVE, Job, JobService
from stationthis.core.users import Account

HISTORY_WINDOW = 20  # succeeded jobs per tool that the ETA averages


@dataclass(frozen=True)
class ActiveJob:
    job_id: str
    tool: str
    state: str  # queued | running | uploading
    position: int | None  # in the global queue, 1 = next; None once it runs
    percent: int  # 0..100
    eta_seconds: float | None  # None when the tool has no finished jobs to learn from
    quote: int  # points held for it
    created_at: datetime
    started_at: datetime | None
    cancel_requested: bool


@dataclass(frozen=True)
class Cancelled:
    job_id: str
    state: str  # "cancelled", or still "running" until the engine confirms the stop
    released: int  # points back so far (the whole hold once it is cancelled)

    @property
    def done(self) -> bool:
        return self.state == "cancelled"


class Status:
    def __init__(self, jobs: JobService, *, window: int = HISTORY_WINDOW) -> None:
        self.jobs = jobs
        self.window = window

    async def active(self, user: Account) -> list[ActiveJob]:
        """The user's unfinished jobs, oldest first."""
        found = await self.jobs.list_for(user.id, states=ACTIVE, limit=1000)
        averages: dict[str, float | None] = {}
        views = []
        for job in sorted(found, key=lambda j: (j.created_at, j.id)):
            if job.tool not in averages:
                averages[job.tool] = await self.jobs.average_run_seconds(job.tool, self.window)
            position = await self.jobs.queue_position(job)
            views.append(_view(job, position, averages[job.tool]))
        return views

    async def cancel(self, user: Account, job_id: str) -> Cancelled:
        """Cancel one of the user's jobs: a queued job ends at once; a running one when its
        engine confirms. Someone else's job does not exist here (NotFound)."""
        job = await self.jobs.cancel(job_id, owner_id=user.id)
        return Cancelled(job.id, job.state, job.quote if job.state == "cancelled" else 0)

    async def cancel_all(self, user: Account) -> list[Cancelled]:
        """Cancel every unfinished job of the user; jobs that end meanwhile are skipped."""
        done = []
        for job in await self.jobs.list_for(user.id, states=ACTIVE, limit=1000):
            try:
                done.append(await self.cancel(user, job.id))
            except Conflict:
                continue  # it finished between the listing and the cancel
        return done


def _view(job: Job, position: int | None, average: float | None) -> ActiveJob:
    percent = job.progress.get("percent")
    progress = min(max(float(percent) / 100, 0.0), 1.0) if percent is not None else 0.0
    if job.state == "uploading":
        progress = 1.0
    ahead = (position - 1) if position is not None else 0
    eta = None if average is None else round(average * (ahead + 1 - progress), 2)
    return ActiveJob(
        job_id=job.id, tool=job.tool, state=job.state, position=position,
        percent=round(progress * 100), eta_seconds=eta, quote=job.quote,
        created_at=job.created_at, started_at=job.started_at,
        cancel_requested=job.cancel_requested,
    )

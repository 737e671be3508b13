"""The job queue port: what workflows call when a job becomes runnable.

The queue carries no state of its own: a job's truth is its row, and workers claim rows
(``core/leases.py``). ``enqueue`` only wakes a worker sooner — the local one
(``core/worker.Worker``) or, on a web node, the others (``core/worker.WakeOnly``).
``add`` creates a job through the queue: where the local worker has a free slot and no job
waits, the job is born leased to it and runs at once, without a claim.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from stationthis.core.jobs_model import Job, JobLease


class JobQueue(Protocol):
    async def enqueue(self, job_id: str) -> None: ...

    async def add(self, create: Callable[[JobLease | None], Awaitable[Job]]) -> Job:
        """Create a job (``create`` inserts its row, leased when given a lease) and see
        that it runs: at once on a free local slot, or queued."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class WakingQueue:
    """A queue whose jobs are always created queued and then announced (``enqueue``): a
    web node's, and the test queues that hold jobs back."""

    async def enqueue(self, job_id: str) -> None:
        raise NotImplementedError

    async def add(self, create: Callable[[JobLease | None], Awaitable[Job]]) -> Job:
        job = await create(None)
        await self.enqueue(job.id)
        return job

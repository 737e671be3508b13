"""The worker: claims runnable jobs from the jobs table and runs them under a lease.

One runs inside ``stationthis serve`` (embedded) and in every ``stationthis worker``. It
claims only while it has a free slot, renews its leases on a heartbeat (which also brings
cancels made in other processes), follows wake-up and cancel signals when they come (Redis,
or in-process), and polls the table when they don't. On stop it stops claiming, lets its
jobs finish for a grace period and hands back the rest, which another worker resumes by
their engine run ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from stationthis.core.db import utcnow
from stationthis.core.jobs import Job
from stationthis.core.jobs_model import JobLease
from stationthis.core.leases import JobLeases, new_worker_id
from stationthis.core.queue import WakingQueue
from stationthis.core.runner import JobRunner
from stationthis.core.signals import Signals

log = logging.getLogger(__name__)
CLAIM_BATCH = 100  # jobs per claim: a worker with thousands of slots fills them in steps


class Worker:
    def __init__(
        self, leases: JobLeases, runner: JobRunner, signals: Signals, *, slots: int,
        role: str = "embedded", heartbeat_seconds: float = 5.0, poll_seconds: float = 1.0,
        grace_seconds: float = 10.0, worker_id: str | None = None,
    ) -> None:
        self.leases = leases
        self.runner = runner
        self.signals = signals
        self.slots = slots
        self.role = role
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.id = worker_id or new_worker_id(role)
        self.claim_all = True  # False: a one-shot command runs only the jobs it enqueued
        self._own: set[str] = set()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        # Jobs may be waiting in the table (claim again when a slot frees): the last claim
        # filled every slot it asked for, another process woke us, or a job of ours was
        # queued without a slot. While False, a job made here is born leased to us (add).
        self._backlog = True
        self._reserved = 0  # slots promised to jobs being created (add)
        self._loops: list[asyncio.Task[None]] = []
        self._beat: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> int:
        return len(self._active)

    async def enqueue(self, job_id: str) -> None:
        """A job of this process became runnable (the signal reaches the other workers)."""
        self._own.add(job_id)
        self._backlog = True
        self._wake.set()
        if self.claim_all and len(self._active) >= self.slots:  # busy here: ask the others
            await self.signals.publish("wake", {"job_id": job_id})

    async def add(self, create: Callable[[JobLease | None], Awaitable[Job]]) -> Job:
        """Create a job and run it: born leased to this worker when a slot is free and no
        job is waiting in the table (no claim, no wake-up: the job runs at once), otherwise
        queued for whichever worker claims it first. ``create`` inserts the row."""
        lease = self._reserve()
        try:
            job = await create(lease)
        finally:
            if lease is not None:
                self._reserved -= 1
        if lease is not None and job.lease_owner == self.id and not self._stopping:
            self._own.add(job.id)
            self._spawn(job)
        else:  # queued (or stopping meanwhile: the lease expires and another worker claims it)
            await self.enqueue(job.id)
        return job

    def _reserve(self) -> JobLease | None:
        running = self._loops and not self._stopping
        if not running or self._backlog or len(self._active) + self._reserved >= self.slots:
            return None
        self._reserved += 1
        return JobLease(self.id, utcnow() + timedelta(seconds=self.leases.lease_seconds))

    async def start(self) -> None:
        await self.leases.register(self.id, self.role, self.slots)
        self._stopping = False
        self._loops = [
            asyncio.create_task(self._claim_loop(), name=f"worker-claim {self.id}"),
            asyncio.create_task(self._listen(), name=f"worker-signals {self.id}"),
        ]
        self._beat = asyncio.create_task(self._heartbeat_loop(), name=f"worker-beat {self.id}")
        if self.claim_all:  # a one-shot command keeps quiet about its own worker
            log.info("worker %s started: %d slots", self.id, self.slots)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; give running jobs ``grace_seconds`` to finish, hand back the rest."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        pending = dict(self._active)
        if pending:
            _, late = await asyncio.wait(pending.values(), timeout=grace)
            late_ids = [job_id for job_id, task in pending.items() if task in late]
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5.0)
            if late_ids:
                with contextlib.suppress(Exception):
                    count = await self.leases.hand_back(self.id, late_ids)
                    log.info("worker %s handed back %d running jobs", self.id, count)
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
        with contextlib.suppress(Exception):
            await self.leases.unregister(self.id)

    # ----- internals ---------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            if await self._claim() and len(self._active) < self.slots:
                continue  # there may be more
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _claim(self) -> bool:
        """Claim what fits; True when every slot asked for was filled (there may be more)."""
        free = min(self.slots - len(self._active) - self._reserved, CLAIM_BATCH)
        if free <= 0:
            return False
        only = None if self.claim_all else self._own - set(self._active)
        self._backlog = False  # a job queued from now on sets it again
        try:
            jobs = await self.leases.claim(self.id, free, only=only)
        except Exception as exc:  # the database is down or busy: try again later
            log.warning("worker %s could not claim jobs: %s", self.id, exc)
            self._backlog = True
            return False
        for job in jobs:
            self._spawn(job)
        if len(jobs) == free:
            self._backlog = True
        return len(jobs) == free

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._run(job), name=f"job {job.id}")
        self._active[job.id] = task

        def done(_: asyncio.Task[None], job_id: str = job.id) -> None:
            self._active.pop(job_id, None)
            self._own.discard(job_id)
            if self._backlog:
                self._wake.set()  # a slot is free for a job that waits

        task.add_done_callback(done)

    async def _run(self, job: Job) -> None:
        await self.runner.run(job, self.id)
        if job.id in self.runner.retry:  # the database failed under it: back to the queue
            self.runner.retry.discard(job.id)
            with contextlib.suppress(Exception):
                await self.leases.hand_back(self.id, [job.id])

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            ids = list(self._active)
            try:
                kept, cancel = await self.leases.renew(self.id, ids)
            except Exception as exc:
                log.warning("worker %s could not renew its leases: %s", self.id, exc)
                continue
            for job_id in ids:
                task = self._active.get(job_id)
                if job_id not in kept and task is not None and not task.done():
                    # Finished just now, or another worker took it over: stop following it.
                    # Every write of this run is fenced, so it could change nothing anyway.
                    log.info("worker %s lost the lease of job %s", self.id, job_id)
                    task.cancel()
            for job_id in cancel:
                await self.runner.cancel(job_id)

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                async with self.signals.subscribe("wake", "cancel") as sub:
                    while not self._stopping:
                        message = await sub.get(timeout=30.0)
                        if message is None:
                            continue
                        channel, data = message
                        if channel == "wake":
                            self._backlog = True
                            self._wake.set()
                        elif channel == "cancel" and data.get("job_id") in self._active:
                            await self.runner.cancel(str(data["job_id"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # signals are optional: polling carries on
                log.warning("worker %s lost its signals: %s", self.id, exc)
                await asyncio.sleep(self.poll_seconds)


class WakeOnly(WakingQueue):
    """The job queue of a web-only node: it runs nothing, it only wakes the workers."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals

    async def enqueue(self, job_id: str) -> None:
        await self.signals.publish("wake", {"job_id": job_id})

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

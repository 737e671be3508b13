"""The process that drives cook runs: it submits a run's pieces as make-image jobs, a few at a
time, records the pieces whose jobs ended, and finishes the run when nothing is left.

A run advances when one of its pieces' jobs ends, when a job of an owner whose run waits for
a free job slot ends (both on job events, filtered without a read: a piece's job has origin
``cook``), at start-up (``resume_all``), on the periodic ``cook-advance`` tick (a safety net
for a slot freed in another process), and on the owner's commands (``workflows/cook.py``).
Reading a run's status never advances it. See docs/decisions/0014-collections-and-cook.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from stationthis.core.collections import Collection, CollectionStore
from stationthis.core.collections_runs import CookStore, Run
from stationthis.core.collections_traits import CookConfig, PiecePlan
from stationthis.core.errors import (
    Conflict,
    InsufficientPoints,
    NotFound,
    StationError,
    TooManyJobs,
)
from stationthis.core.events import CookFinished, CookProgressed, Event, EventBus, JobEvent
from stationthis.core.jobs import JobService
from stationthis.core.users import Users
from stationthis.workflows.make_image import MakeImage, Request

log = logging.getLogger(__name__)
PIECE_ORIGIN = "cook"  # the origin of a piece's make-image job


@dataclass(frozen=True)
class CookStatus:
    run_id: str
    collection_id: str
    state: str  # running | paused | finished | cancelled
    reason: str | None  # why it paused by itself
    total: int
    done: int
    failed: int
    in_flight: int
    pending: int
    kept: int
    rejected: int
    config_hash: str
    recognised: bool = False  # start() found a run of this same configuration

    @property
    def progress(self) -> str:
        return f"{self.done}/{self.total}"


def piece_request(config: CookConfig, plan: PiecePlan) -> Request:
    """The make-image request of one piece."""
    return Request(config.tool, {**config.options, "prompt": plan.prompt, "seed": plan.seed})


class CookRunner:
    def __init__(
        self, store: CookStore, collections: CollectionStore, make_image: MakeImage,
        jobs: JobService, users: Users, bus: EventBus, *, max_supply: int,
    ) -> None:
        self.store = store
        self.collections = collections
        self.make_image = make_image
        self.jobs = jobs
        self.users = users
        self.bus = bus
        self.max_supply = max_supply
        self._locks: dict[str, asyncio.Lock] = {}
        # owner id → runs this process left waiting for a free job slot of that owner
        self._waiting: dict[str, set[str]] = {}

    async def on_job_finished(self, event: Event) -> None:
        """Subscribed to the job completion events. A piece's job advances its run; any job
        of an owner with a run waiting for a slot advances that run; other jobs cost nothing.
        An event without a category predates the markers: the runs are looked up then."""
        if not isinstance(event, JobEvent):
            return
        runs = self._waiting.pop(event.owner_id, set())
        own = None
        if event.origin == PIECE_ORIGIN or event.category is None:
            own = await self.store.run_of_job(event.job_id)
            if own is not None:
                runs.add(own)
        # an old event, or a piece whose job ended before its run recorded it: look it up
        if event.category is None or (event.origin == PIECE_ORIGIN and own is None):
            runs |= {run.id for run in await self.store.running(event.owner_id)}
        for run_id in sorted(runs):
            try:
                await self.advance(run_id)
            except Exception:
                log.exception("could not advance cook run %s", run_id)

    async def resume_all(self) -> int:
        """At start-up: continue every running run (state is in the database)."""
        await self.store.release_claims()
        return await self.tick()

    async def tick(self) -> int:
        """Advance every running run (at start-up and on the periodic ``cook-advance`` task:
        a slot freed by a job another process ran is noticed here)."""
        runs = await self.store.running()
        for run in runs:
            try:
                await self.advance(run.id)
            except Exception:
                log.exception("could not advance cook run %s", run.id)
        return len(runs)

    async def advance(self, run_id: str) -> None:
        """Bring a run up to date: record finished pieces, submit pending ones while the
        owner has free job slots, finish the run when nothing is left. Idempotent."""
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        async with lock:
            try:
                run = await self.store.run(run_id)
                collection = await self.collections.get_any(run.collection_id)
            except NotFound:  # the collection was deleted meanwhile
                self._locks.pop(run_id, None)
                return
            await self._sync(run)
            if run.state == "running":
                await self._submit(run, collection)
                counts = await self.store.counts(run.id)
                if not any(counts.get(s) for s in ("pending", "claimed", "running")):
                    await self.store.set_state(
                        run.id, "finished", sources=("running",),
                        event=CookFinished(
                            run_id=run.id, collection_id=run.collection_id,
                            owner_id=collection.owner_id, reply=run.reply,
                            done=counts.get("done", 0), failed=counts.get("failed", 0),
                            total=run.total))
        with contextlib.suppress(NotFound):
            await self.publish(run_id)

    async def drive(self, run_id: str, *, timeout: float | None = None) -> CookStatus:
        """Advance the run until it is no longer running (finished, paused or cancelled) and
        its pieces in flight have ended. For one-shot callers such as the CLI (whose process
        runs those jobs); a service advances runs on job events."""
        async with asyncio.timeout(timeout):
            while True:
                await self.advance(run_id)
                run = await self.store.run(run_id)
                jobs = [p.job_id for p in await self.store.pieces(run_id, ("running",))
                        if p.job_id is not None]
                if run.state != "running" and not jobs:
                    return await self.status(run_id)
                if not jobs:
                    await asyncio.sleep(0.5)  # the user's other jobs fill their limit
                    continue
                waits = [asyncio.create_task(self.jobs.wait(j)) for j in jobs]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in waits:
                        task.cancel()

    async def status(self, run_id: str, recognised: bool = False) -> CookStatus:
        """The run as the database has it now (a pure read)."""
        run = await self.store.run(run_id)
        counts = await self.store.counts(run_id)
        return CookStatus(
            run_id=run.id, collection_id=run.collection_id, state=run.state,
            reason=run.reason, total=run.total, done=counts.get("done", 0),
            failed=counts.get("failed", 0) + counts.get("cancelled", 0),
            in_flight=counts.get("claimed", 0) + counts.get("running", 0),
            pending=counts.get("pending", 0), kept=counts.get("kept", 0),
            rejected=counts.get("rejected", 0), config_hash=run.config_hash,
            recognised=recognised,
        )

    async def publish(self, run_id: str) -> CookStatus:
        """Tell the platforms how the run stands (``CookProgressed``, on the bus)."""
        status = await self.status(run_id)
        run = await self.store.run(run_id)
        collection = await self.collections.get_any(run.collection_id)
        await self.bus.publish(CookProgressed(
            run_id=run_id, collection_id=run.collection_id, owner_id=collection.owner_id,
            reply=run.reply, state=status.state, done=status.done, failed=status.failed,
            total=status.total))
        return status

    # ----- internals ---------------------------------------------------------------------

    async def _sync(self, run: Run) -> None:
        for piece in await self.store.pieces(run.id, ("running",)):
            if piece.job_id is None:
                continue
            job = await self.jobs.get(piece.job_id)
            if not job.finished:
                continue
            if job.state == "succeeded" and job.outputs:
                await self.store.move_piece(piece.id, ("running",), "done",
                                            media_id=job.outputs[0], error=None)
            elif job.state == "cancelled" and run.state == "cancelled":
                await self.store.move_piece(piece.id, ("running",), "cancelled",
                                            error="cancelled")
            else:
                await self.store.move_piece(piece.id, ("running",), "failed",
                                            error=job.error or job.state)

    async def _submit(self, run: Run, collection: Collection) -> None:
        config = CookConfig.parse(run.config, max_supply=max(run.total, self.max_supply),
                                  check=False)
        owner = await self.users.get(collection.owner_id)
        in_flight = len(await self.store.pieces(run.id, ("claimed", "running")))
        for piece in await self.store.pieces(run.id, ("pending",)):
            if in_flight >= self.jobs.max_active_per_user:
                return  # its own pieces fill the owner's slots: their ends advance it
            if not await self.store.move_piece(piece.id, ("pending",), "claimed"):
                continue
            plan = PiecePlan(piece.number, piece.attributes, piece.prompt, piece.seed)
            try:
                job = await self.make_image.make(owner, piece_request(config, plan),
                                                 origin=PIECE_ORIGIN)
            except TooManyJobs:  # the owner's other jobs fill the slots: theirs advance it
                await self.store.move_piece(piece.id, ("claimed",), "pending")
                self._waiting.setdefault(owner.id, set()).add(run.id)
                return
            except InsufficientPoints as exc:
                await self.store.move_piece(piece.id, ("claimed",), "pending")
                await self.store.set_state(
                    run.id, "paused", sources=("running",),
                    reason=f"the balance is short: {exc.message} Top up and resume.")
                return
            except StationError as exc:  # e.g. the prompt filter refused this piece
                await self.store.move_piece(piece.id, ("claimed",), "failed", error=exc.message)
                continue
            if not await self.store.move_piece(piece.id, ("claimed",), "running",
                                               job_id=job.id):
                with contextlib.suppress(Conflict, NotFound):
                    await self.jobs.cancel(job.id)  # someone else took the piece meanwhile
                continue
            if await self._stopped(run.id):  # cancelled or deleted meanwhile
                with contextlib.suppress(Conflict, NotFound):
                    await self.jobs.cancel(job.id)
                return
            in_flight += 1

    async def _stopped(self, run_id: str) -> bool:
        try:
            return (await self.store.run(run_id)).state == "cancelled"
        except NotFound:
            return True

"""Cook mode: generate a collection's pieces from its master prompt and weighted traits.

A run's pieces are ordinary make-image jobs, submitted a few at a time (at most the user's
limit of unfinished jobs): each holds only its own price when it is submitted and settles
like any job, so pausing or cancelling never leaves a hold behind and a run the balance
cannot finish pauses itself with the reason. State lives in ``cook_runs`` / ``cook_pieces``:
after a restart ``resume_all`` continues every running run where it stopped. See
docs/decisions/0014-collections-and-cook.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ..core.collections import Collection, CollectionStore, Item
from ..core.collections_runs import CookFinished, CookProgressed, CookStore, Piece, Run
from ..core.collections_traits import CookConfig, PiecePlan
from ..core.errors import (
    Conflict,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    StationError,
    TooManyJobs,
)
from ..core.events import (
    Event,
    EventBus,
    JobCancelled,
    JobFailed,
    JobProgressed,
    JobSucceeded,
)
from ..core.jobs import JobService
from ..core.users import Account, Users
from .make_image import MakeImage, Request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CookQuote:
    pieces: int  # pieces still to make
    per_piece: int
    points: int
    available: int
    fits: int  # how many pieces the balance covers now
    config_hash: str

    @property
    def enough(self) -> bool:
        return self.points <= self.available


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


class Cook:
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
        bus.subscribe(self._on_job_finished, JobSucceeded, JobFailed, JobCancelled)

    # ----- configuration -----------------------------------------------------------------

    async def configure(self, user: Account, collection_id: str, config: dict[str, Any]
                        ) -> CookConfig:
        """Validate and store the cook configuration (owner only)."""
        await self.collections.get(user.id, collection_id, "owner")
        parsed = CookConfig.parse(config, max_supply=self.max_supply)
        first = parsed.plan(1)
        await self.make_image.quote(user, self._request(parsed, first))  # tool and options
        await self.collections.update(collection_id, cook=parsed.to_dict())
        return parsed

    async def config(self, user: Account, collection_id: str) -> CookConfig:
        collection = await self.collections.get(user.id, collection_id)
        return self._config(collection)

    async def preview(self, user: Account, collection_id: str, count: int = 5
                      ) -> list[PiecePlan]:
        """The first pieces' traits and prompts, without generating anything."""
        config = await self.config(user, collection_id)
        return [config.plan(n) for n in range(1, min(count, config.supply) + 1)]

    async def quote(self, user: Account, collection_id: str) -> CookQuote:
        """The price of the pieces still to make, and how many the balance covers."""
        collection = await self.collections.get(user.id, collection_id, "owner")
        config = self._config(collection)
        run = await self.store.latest(collection_id)
        if run is not None and run.config_hash == config.hash and run.state != "finished":
            pieces = len(await self.store.pieces(run.id, ("pending", "failed", "cancelled")))
        else:
            pieces = config.supply
        one = await self.make_image.quote(user, self._request(config, config.plan(1)))
        fits = pieces if one.points == 0 else min(pieces, one.available // one.points)
        return CookQuote(pieces, one.points, one.points * pieces, one.available, fits,
                         config.hash)

    # ----- running -----------------------------------------------------------------------

    async def start(self, user: Account, collection_id: str, *,
                    reply: dict[str, Any] | None = None, again: bool = False) -> CookStatus:
        """Start cooking. The same configuration as the latest run is recognised: a paused
        or cancelled run continues, a finished one is returned as it is (``again`` starts a
        fresh run). A different configuration while a run is unfinished is refused."""
        collection = await self.collections.get(user.id, collection_id, "owner")
        config = self._config(collection)
        run = await self.store.latest(collection_id)
        if run is not None and run.config_hash == config.hash and not again:
            if run.state in ("paused", "cancelled"):
                await self.store.set_state(run.id, "running", sources=(run.state,))
                await self.advance(run.id)
            return await self._status(run.id, recognised=True)
        if run is not None and run.state in ("running", "paused"):
            raise Conflict("this collection has an unfinished cook run with another "
                           "configuration: cancel it first")
        run = await self.store.create_run(collection_id, config, reply)
        await self.advance(run.id)
        return await self._status(run.id)

    async def status(self, user: Account, collection_id: str) -> CookStatus:
        await self.collections.get(user.id, collection_id)
        run = await self._run(collection_id)
        await self.advance(run.id)
        return await self._status(run.id)

    async def pause(self, user: Account, collection_id: str) -> CookStatus:
        """No new pieces start; the few already running finish (and are paid as usual)."""
        run = await self._owned_run(user, collection_id)
        if not await self.store.set_state(run.id, "paused", sources=("running",)):
            raise Conflict(f"this cook run is {run.state}, not running")
        return await self._publish(run.id)

    async def resume(self, user: Account, collection_id: str) -> CookStatus:
        run = await self._owned_run(user, collection_id)
        if not await self.store.set_state(run.id, "running", sources=("paused",)):
            raise Conflict(f"this cook run is {run.state}, not paused")
        await self.advance(run.id)
        return await self._status(run.id)

    async def cancel(self, user: Account, collection_id: str) -> CookStatus:
        """Stop: running pieces are cancelled (their holds released), pending ones stay
        pending (``start`` with the same configuration continues them)."""
        run = await self._owned_run(user, collection_id)
        if not await self.store.set_state(run.id, "cancelled", sources=("running", "paused")):
            raise Conflict(f"this cook run is already {run.state}")
        for piece in await self.store.pieces(run.id, ("running",)):
            if piece.job_id is not None:
                with contextlib.suppress(Conflict, NotFound):
                    await self.jobs.cancel(piece.job_id)
        await self.advance(run.id)
        return await self._status(run.id)

    async def drive(self, user: Account, collection_id: str, *, timeout: float | None = None
                    ) -> CookStatus:
        """Advance the run until it is no longer running (finished, paused or cancelled) and
        its pieces in flight have ended. For one-shot callers such as the CLI (whose process
        runs those jobs); the service advances runs on job events."""
        run = await self._owned_run(user, collection_id)
        async with asyncio.timeout(timeout):
            while True:
                await self.advance(run.id)
                run = await self.store.run(run.id)
                jobs = [p.job_id for p in await self.store.pieces(run.id, ("running",))
                        if p.job_id is not None]
                if run.state != "running" and not jobs:
                    return await self._status(run.id)
                if not jobs:
                    await asyncio.sleep(0.5)  # the user's other jobs fill their limit
                    continue
                waits = [asyncio.create_task(self.jobs.wait(j)) for j in jobs]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in waits:
                        task.cancel()

    async def resume_all(self) -> int:
        """At start-up: continue every running run (state is in the database)."""
        await self.store.release_claims()
        runs = await self.store.running()
        for run in runs:
            await self.advance(run.id)
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
            await self._publish(run_id)

    # ----- review ------------------------------------------------------------------------

    async def pieces(self, user: Account, collection_id: str, *, state: str | None = None,
                     page: int = 1, per_page: int = 20) -> list[Piece]:
        await self.collections.get(user.id, collection_id)
        run = await self._run(collection_id)
        if page < 1 or not 1 <= per_page <= 100:
            raise InvalidInput("pages start at 1 and have 1–100 pieces")
        states = (state,) if state else None
        return await self.store.pieces(run.id, states, offset=(page - 1) * per_page,
                                       limit=per_page)

    async def keep(self, user: Account, collection_id: str, number: int) -> Item:
        """Keep a made piece: it becomes an item of the collection, with its traits."""
        collection = await self.collections.get(user.id, collection_id, "owner")
        run = await self._run(collection_id)
        piece = await self.store.piece(run.id, number)
        if piece.state != "done" or piece.media_id is None:
            raise Conflict(f"piece {number} is {piece.state}: only a made piece can be kept")
        if piece.review == "kept":
            items, _ = await self.collections.items(collection_id)
            return next(i for i in items if i.piece_id == piece.id)
        await self.store.set_review(piece.id, "kept")
        return await self.collections.add_item(
            collection_id, piece.media_id, user.id, name=f"{collection.name} #{number}",
            attributes=piece.attributes, piece_id=piece.id,
        )

    async def reject(self, user: Account, collection_id: str, number: int) -> Piece:
        await self.collections.get(user.id, collection_id, "owner")
        run = await self._run(collection_id)
        piece = await self.store.piece(run.id, number)
        if piece.state != "done":
            raise Conflict(f"piece {number} is {piece.state}: only a made piece can be rejected")
        await self.collections.remove_piece(collection_id, piece.id)
        await self.store.set_review(piece.id, "rejected")
        return await self.store.piece(run.id, number)

    async def regenerate(self, user: Account, collection_id: str, number: int) -> Piece:
        """Make a piece again with the same traits and a new seed (a kept copy leaves the
        collection). A failed piece is retried the same way."""
        await self.collections.get(user.id, collection_id, "owner")
        run = await self._run(collection_id)
        if run.state == "cancelled":
            raise Conflict("this cook run was cancelled: start it again first")
        piece = await self.store.piece(run.id, number)
        if piece.state not in ("done", "failed", "cancelled"):
            raise Conflict(f"piece {number} is {piece.state}: wait until it is made")
        config = CookConfig.parse(run.config, max_supply=max(run.total, self.max_supply),
                                  check=False)
        attempt = piece.attempt + 1
        plan = config.plan(number, attempt)
        await self.collections.remove_piece(collection_id, piece.id)
        await self.store.set_review(piece.id, None)
        await self.store.move_piece(piece.id, (piece.state,), "pending", attempt=attempt,
                                    seed=plan.seed, job_id=None, media_id=None, error=None)
        await self.store.set_state(run.id, "running", sources=("finished",))
        await self.advance(run.id)
        return await self.store.piece(run.id, number)

    retry = regenerate

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
                return
            if not await self.store.move_piece(piece.id, ("pending",), "claimed"):
                continue
            plan = PiecePlan(piece.number, piece.attributes, piece.prompt, piece.seed)
            try:
                job = await self.make_image.make(owner, self._request(config, plan),
                                                 origin="cook")
            except TooManyJobs:
                await self.store.move_piece(piece.id, ("claimed",), "pending")
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

    def _request(self, config: CookConfig, plan: PiecePlan) -> Request:
        return Request(config.tool, {**config.options, "prompt": plan.prompt,
                                     "seed": plan.seed})

    def _config(self, collection: Collection) -> CookConfig:
        if not collection.cook:
            raise InvalidInput("this collection has no cook configuration yet")
        return CookConfig.parse(collection.cook, max_supply=self.max_supply)

    async def _run(self, collection_id: str) -> Run:
        run = await self.store.latest(collection_id)
        if run is None:
            raise NotFound("this collection has not been cooked yet")
        return run

    async def _owned_run(self, user: Account, collection_id: str) -> Run:
        await self.collections.get(user.id, collection_id, "owner")
        return await self._run(collection_id)

    async def _status(self, run_id: str, recognised: bool = False) -> CookStatus:
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

    async def _publish(self, run_id: str) -> CookStatus:
        status = await self._status(run_id)
        run = await self.store.run(run_id)
        collection = await self.collections.get_any(run.collection_id)
        await self.bus.publish(CookProgressed(
            run_id=run_id, collection_id=run.collection_id, owner_id=collection.owner_id,
            reply=run.reply, state=status.state, done=status.done, failed=status.failed,
            total=status.total))
        if run.reply and status.state != "finished":
            # The same progress as a job's, at the run's reply address: every platform's
            # notifier shows "done/total" without knowing about cook runs (job_id = run id).
            await self.bus.publish(JobProgressed(
                job_id=run_id, owner_id=collection.owner_id, reply=run.reply,
                state="running" if status.state == "running" else status.state,
                progress={"step": status.done, "total": status.total,
                          "percent": 100 * status.done // max(status.total, 1),
                          "kind": "cook", "collection_id": run.collection_id,
                          "failed": status.failed}))
        return status

    async def _on_job_finished(self, event: Event) -> None:
        """Any finished job of a user frees a slot: advance that user's running runs."""
        owner_id = getattr(event, "owner_id", None)
        job_id = getattr(event, "job_id", None)
        if owner_id is None or job_id is None:
            return
        runs = {run.id for run in await self.store.running(str(owner_id))}
        own = await self.store.run_of_job(str(job_id))
        for run_id in sorted(runs | ({own} if own else set())):
            try:
                await self.advance(run_id)
            except Exception:
                log.exception("could not advance cook run %s", run_id)

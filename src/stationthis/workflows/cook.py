"""Cook mode: generate a collection's pieces from its master prompt and weighted traits.

A run's pieces are ordinary make-image jobs, submitted a few at a time (at most the user's
limit of unfinished jobs): each holds only its own price when it is submitted and settles
like any job, so pausing or cancelling never leaves a hold behind and a run the balance
cannot finish pauses itself with the reason. State lives in ``cook_runs`` / ``cook_pieces``.

This module holds the owner's commands (configure, quote, start, pause, resume, cancel,
status, review); the process that drives runs (job events, start-up, the periodic tick) is
``cook_runner.CookRunner``. See docs/decisions/0014-collections-and-cook.md.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from stationthis.core.collections import Collection, CollectionStore, Item
from stationthis.core.collections_runs import CookStore, Piece, Run
from stationthis.core.collections_traits import CookConfig, PiecePlan
from stationthis.core.errors import Conflict, InvalidInput, NotFound
from stationthis.core.events import EventBus
from stationthis.core.jobs import JobService
from stationthis.core.replies import Reply
from stationthis.core.users import Account, Users
from stationthis.workflows.cook_runner import CookRunner, CookStatus, piece_request
from stationthis.workflows.make_image import MakeImage

__all__ = ["Cook", "CookQuote", "CookRunner", "CookStatus"]


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


class Cook:
    """The owner's commands; ``runner`` (``workflows/cook_runner.py``) drives the runs."""

    def __init__(
        self, store: CookStore, collections: CollectionStore, make_image: MakeImage,
        jobs: JobService, users: Users, bus: EventBus, *, max_supply: int,
    ) -> None:
        self.store = store
        self.collections = collections
        self.make_image = make_image
        self.jobs = jobs
        self.max_supply = max_supply
        self.runner = CookRunner(store, collections, make_image, jobs, users, bus,
                                 max_supply=max_supply)

    # ----- configuration -----------------------------------------------------------------

    async def configure(self, user: Account, collection_id: str, config: dict[str, Any]
                        ) -> CookConfig:
        """Validate and store the cook configuration (owner only)."""
        await self.collections.get(user.id, collection_id, "owner")
        parsed = CookConfig.parse(config, max_supply=self.max_supply)
        first = parsed.plan(1)
        await self.make_image.quote(user, piece_request(parsed, first))  # tool and options
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
        one = await self.make_image.quote(user, piece_request(config, config.plan(1)))
        fits = pieces if one.points == 0 else min(pieces, one.available // one.points)
        return CookQuote(pieces, one.points, one.points * pieces, one.available, fits,
                         config.hash)

    # ----- running -----------------------------------------------------------------------

    async def start(self, user: Account, collection_id: str, *,
                    reply: Reply | None = None, again: bool = False) -> CookStatus:
        """Start cooking. The same configuration as the latest run is recognised: a paused
        or cancelled run continues, a finished one is returned as it is (``again`` starts a
        fresh run). A different configuration while a run is unfinished is refused."""
        collection = await self.collections.get(user.id, collection_id, "owner")
        config = self._config(collection)
        run = await self.store.latest(collection_id)
        if run is not None and run.config_hash == config.hash and not again:
            if run.state in ("paused", "cancelled"):
                await self.store.set_state(run.id, "running", sources=(run.state,))
                await self.runner.advance(run.id)
            return await self.runner.status(run.id, recognised=True)
        if run is not None and run.state in ("running", "paused"):
            raise Conflict("this collection has an unfinished cook run with another "
                           "configuration: cancel it first")
        run = await self.store.create_run(collection_id, config, reply)
        await self.runner.advance(run.id)
        return await self.runner.status(run.id)

    async def status(self, user: Account, collection_id: str) -> CookStatus:
        """How the latest run stands (a pure read: runs advance on job events)."""
        await self.collections.get(user.id, collection_id)
        run = await self._run(collection_id)
        return await self.runner.status(run.id)

    async def run_view(self, run_id: str) -> tuple[str, CookStatus]:
        """A run's collection name and how it stands, with no owner check: for the message
        that started the run (its notifier holds the address; the run id is not guessable).
        ``NotFound`` when the run or its collection is gone."""
        status = await self.runner.status(run_id)
        return (await self.collections.get_any(status.collection_id)).name, status

    async def pause(self, user: Account, collection_id: str) -> CookStatus:
        """No new pieces start; the few already running finish (and are paid as usual)."""
        run = await self._owned_run(user, collection_id)
        if not await self.store.set_state(run.id, "paused", sources=("running",)):
            raise Conflict(f"this cook run is {run.state}, not running")
        return await self.runner.publish(run.id)

    async def resume(self, user: Account, collection_id: str) -> CookStatus:
        run = await self._owned_run(user, collection_id)
        if not await self.store.set_state(run.id, "running", sources=("paused",)):
            raise Conflict(f"this cook run is {run.state}, not paused")
        await self.runner.advance(run.id)
        return await self.runner.status(run.id)

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
        await self.runner.advance(run.id)
        return await self.runner.status(run.id)

    async def drive(self, user: Account, collection_id: str, *, timeout: float | None = None
                    ) -> CookStatus:
        """Advance the run until it is no longer running and its pieces in flight have
        ended: for one-shot callers such as the CLI (whose process runs those jobs)."""
        run = await self._owned_run(user, collection_id)
        return await self.runner.drive(run.id, timeout=timeout)

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
        await self.runner.advance(run.id)
        return await self.store.piece(run.id, number)

    retry = regenerate

    # ----- internals ---------------------------------------------------------------------

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

"""Cook runs and their pieces, in the database (a restart continues where a run stopped).

A run is ``running | paused | finished | cancelled``. A piece is
``pending → claimed → running (has a job) → done | failed | cancelled``; review marks a done
piece ``kept`` or ``rejected``; regenerate and retry send a piece back to ``pending``.
Claiming is a conditional UPDATE, so two processes never submit the same piece twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from stationthis.core.collections_traits import CookConfig
from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import NotFound
from stationthis.core.events import CookFinished, CookProgressed, Event, add_to_outbox
from stationthis.core.replies import Reply, read_reply, reply_json
from stationthis.core.schema import collections, cook_pieces, cook_runs

__all__ = ["CookFinished", "CookProgressed", "CookStore", "Piece", "Run"]  # events: .events

UNFINISHED = ("running", "paused")
IN_FLIGHT = ("claimed", "running")


@dataclass(frozen=True)
class Run:
    id: str
    collection_id: str
    config: dict[str, Any]
    config_hash: str
    state: str
    reason: str | None
    reply: Reply | None
    total: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Piece:
    id: str
    run_id: str
    number: int
    attributes: list[dict[str, str]]
    prompt: str
    seed: int
    attempt: int
    state: str
    review: str | None
    job_id: str | None
    media_id: str | None
    error: str | None


class CookStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_run(
        self, collection_id: str, config: CookConfig, reply: Reply | None
    ) -> Run:
        run_id = new_id()
        now = utcnow()
        async with self.db.write() as conn:
            await conn.execute(insert(cook_runs).values(
                id=run_id, collection_id=collection_id, config=config.to_dict(),
                config_hash=config.hash, state="running", reason=None, reply=reply_json(reply),
                total=config.supply, created_at=now, updated_at=now,
            ))
            rows = []
            for number in range(1, config.supply + 1):
                plan = config.plan(number)
                rows.append(dict(
                    id=new_id(), run_id=run_id, number=number, traits=plan.attributes,
                    prompt=plan.prompt, seed=plan.seed, attempt=0, state="pending",
                    review=None, job_id=None, media_id=None, error=None, updated_at=now,
                ))
            await conn.execute(insert(cook_pieces), rows)
        return await self.run(run_id)

    async def run(self, run_id: str) -> Run:
        async with self.db.read() as conn:
            row = (await conn.execute(select(cook_runs).where(cook_runs.c.id == run_id))).first()
        if row is None:
            raise NotFound("no such cook run")
        return _run(row)

    async def latest(self, collection_id: str) -> Run | None:
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(cook_runs).where(cook_runs.c.collection_id == collection_id)
                .order_by(cook_runs.c.created_at.desc(), cook_runs.c.id.desc()).limit(1)
            )).first()
        return _run(row) if row is not None else None

    async def running(self, owner_id: str | None = None) -> list[Run]:
        query = select(cook_runs).where(cook_runs.c.state == "running")
        if owner_id is not None:
            query = query.join(collections, collections.c.id == cook_runs.c.collection_id).where(
                collections.c.owner_id == owner_id)
        async with self.db.read() as conn:
            return [_run(r) for r in (await conn.execute(query)).all()]

    async def run_of_job(self, job_id: str) -> str | None:
        async with self.db.read() as conn:
            found = (await conn.execute(
                select(cook_pieces.c.run_id).where(cook_pieces.c.job_id == job_id)
            )).scalar_one_or_none()
        return str(found) if found is not None else None

    async def set_state(
        self, run_id: str, state: str, *, sources: tuple[str, ...], reason: str | None = None,
        event: Event | None = None,
    ) -> bool:
        async with self.db.write() as conn:
            done = await conn.execute(
                update(cook_runs).where(cook_runs.c.id == run_id, cook_runs.c.state.in_(sources))
                .values(state=state, reason=reason, updated_at=utcnow())
            )
            if done.rowcount and event is not None:
                await add_to_outbox(conn, event)
        return bool(done.rowcount)

    async def pieces(
        self, run_id: str, states: tuple[str, ...] | None = None, *, offset: int = 0,
        limit: int | None = None,
    ) -> list[Piece]:
        query = select(cook_pieces).where(cook_pieces.c.run_id == run_id)
        if states:
            query = query.where(cook_pieces.c.state.in_(states))
        query = query.order_by(cook_pieces.c.number).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        async with self.db.read() as conn:
            return [_piece(r) for r in (await conn.execute(query)).all()]

    async def piece(self, run_id: str, number: int) -> Piece:
        async with self.db.read() as conn:
            row = (await conn.execute(select(cook_pieces).where(
                cook_pieces.c.run_id == run_id, cook_pieces.c.number == number))).first()
        if row is None:
            raise NotFound(f"there is no piece {number} in this run")
        return _piece(row)

    async def counts(self, run_id: str) -> dict[str, int]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(cook_pieces.c.state, func.count()).where(cook_pieces.c.run_id == run_id)
                .group_by(cook_pieces.c.state)
            )).all()
            reviews = (await conn.execute(
                select(cook_pieces.c.review, func.count())
                .where(cook_pieces.c.run_id == run_id, cook_pieces.c.review.is_not(None))
                .group_by(cook_pieces.c.review)
            )).all()
        return {**{str(s): int(n) for s, n in rows}, **{str(r): int(n) for r, n in reviews}}

    async def move_piece(self, piece_id: str, sources: tuple[str, ...], state: str,
                         **values: Any) -> bool:
        async with self.db.write() as conn:
            done = await conn.execute(
                update(cook_pieces)
                .where(cook_pieces.c.id == piece_id, cook_pieces.c.state.in_(sources))
                .values(state=state, updated_at=utcnow(), **values)
            )
        return bool(done.rowcount)

    async def set_review(self, piece_id: str, review: str | None) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(cook_pieces).where(cook_pieces.c.id == piece_id)
                               .values(review=review, updated_at=utcnow()))

    async def release_claims(self) -> int:
        """At start-up: claims without a job (a crash between claim and submit) go back."""
        async with self.db.write() as conn:
            done = await conn.execute(
                update(cook_pieces)
                .where(cook_pieces.c.state == "claimed", cook_pieces.c.job_id.is_(None))
                .values(state="pending", updated_at=utcnow())
            )
        return int(done.rowcount or 0)


def _run(row: Any) -> Run:
    return Run(
        id=row.id, collection_id=row.collection_id, config=dict(row.config),
        config_hash=row.config_hash, state=row.state, reason=row.reason,
        reply=read_reply(row.reply), total=row.total,
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
    )


def _piece(row: Any) -> Piece:
    return Piece(
        id=row.id, run_id=row.run_id, number=row.number, attributes=list(row.traits),
        prompt=row.prompt, seed=int(row.seed), attempt=row.attempt, state=row.state,
        review=row.review, job_id=row.job_id, media_id=row.media_id, error=row.error,
    )

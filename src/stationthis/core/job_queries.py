"""Job lists as a page or an API shows them: one SELECT of the columns a listing needs.

``JobService.list_for`` reads whole jobs (the runner's data, the reply address) and decodes
every JSON column of every row. A listing needs neither the engine's run data nor the reply
address, so ``JobQueries.listing`` leaves them out and reads the JSON columns it does return
as text (``CAST … AS TEXT``: on PostgreSQL the driver would decode them all), parsing only the
ones that are not empty (most jobs have no input images, a queued job no progress).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, select

from stationthis.core.db import Database, as_utc
from stationthis.core.schema import jobs
from stationthis.core.text import load_json


@dataclass(frozen=True, slots=True)
class JobListing:
    """A job as a list shows it (the fields of ``Job`` that a listing names)."""

    id: str
    tool: str
    category: str
    state: str
    progress: dict[str, Any]
    params: dict[str, Any]
    inputs: dict[str, str]
    outputs: list[str]
    quote: int
    cost: int | None
    error: str | None
    error_code: str | None
    engine: str
    parent_id: str | None
    origin: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_c = jobs.c
_COLUMNS = (
    _c.id, _c.tool, _c.category, _c.state, cast(_c.progress, Text).label("progress"),
    cast(_c.params, Text).label("params"), cast(_c.inputs, Text).label("inputs"),
    cast(_c.outputs, Text).label("outputs"), _c.quote, _c.cost, _c.error,
    _c.error_code, _c.engine, _c.parent_id, _c.origin, _c.cancel_requested, _c.created_at,
    _c.started_at, _c.finished_at,
)


class JobQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def listing(
        self, owner_id: str, *, states: tuple[str, ...] | None = None, limit: int = 20
    ) -> list[JobListing]:
        """A user's jobs, newest first (the order of ``JobService.list_for``)."""
        query = select(*_COLUMNS).where(_c.owner_id == owner_id)
        if states:
            query = query.where(_c.state.in_(states))
        query = query.order_by(_c.created_at.desc(), _c.id).limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            JobListing(
                id=r.id, tool=r.tool, category=r.category, state=r.state,
                progress=_json(r.progress, {}), params=_json(r.params, {}),
                inputs=_json(r.inputs, {}), outputs=_json(r.outputs, []), quote=r.quote,
                cost=r.cost, error=r.error, error_code=r.error_code, engine=r.engine,
                parent_id=r.parent_id, origin=r.origin,
                cancel_requested=bool(r.cancel_requested), created_at=as_utc(r.created_at),
                started_at=as_utc(r.started_at) if r.started_at else None,
                finished_at=as_utc(r.finished_at) if r.finished_at else None,
            )
            for r in rows
        ]


def _json(raw: Any, empty: dict[str, Any] | list[Any]) -> Any:
    """A JSON column's value from its text; NULL and an empty object or list need no parser.
    (asyncpg hands JSON over already decoded, with the engine's ``json_deserializer``.)"""
    if isinstance(raw, str | bytes):
        if raw in ("{}", "[]", b"{}", b"[]", "null", b"null"):
            return type(empty)()
        return load_json(raw)
    return raw if raw is not None else type(empty)()

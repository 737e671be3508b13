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

from sqlalchemy import Text, bindparam, cast, select

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

# Built once (a list request runs one of them): 19 columns' expressions and cache key cost
# more per call than the query does.
_ALL = (select(*_COLUMNS).where(_c.owner_id == bindparam("owner_id"))
        .order_by(_c.created_at.desc(), _c.id).limit(bindparam("limit")))
_BY_STATE = (select(*_COLUMNS)
             .where(_c.owner_id == bindparam("owner_id"),
                    _c.state.in_(bindparam("states", expanding=True)))
             .order_by(_c.created_at.desc(), _c.id).limit(bindparam("limit")))


class JobQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def listing(
        self, owner_id: str, *, states: tuple[str, ...] | None = None, limit: int = 20
    ) -> list[JobListing]:
        """A user's jobs, newest first (the order of ``JobService.list_for``)."""
        params: dict[str, Any] = {"owner_id": owner_id, "limit": limit}
        if states:
            params["states"] = list(states)
        async with self.db.read() as conn:
            rows = (await conn.execute(_BY_STATE if states else _ALL, params)).all()
        return [  # rows unpacked as tuples: faster than 19 attribute reads per row
            JobListing(
                id=id_, tool=tool, category=category, state=state,
                progress=_json(progress, {}), params=_json(params_, {}),
                inputs=_json(inputs, {}), outputs=_json(outputs, []), quote=quote,
                cost=cost, error=error, error_code=error_code, engine=engine,
                parent_id=parent_id, origin=origin, cancel_requested=bool(cancel),
                created_at=as_utc(created), started_at=as_utc(started) if started else None,
                finished_at=as_utc(finished) if finished else None,
            )
            for (id_, tool, category, state, progress, params_, inputs, outputs, quote, cost,
                 error, error_code, engine, parent_id, origin, cancel, created, started,
                 finished) in rows
        ]


def _json(raw: Any, empty: dict[str, Any] | list[Any]) -> Any:
    """A JSON column's value from its text; NULL and an empty object or list need no parser.
    (asyncpg hands JSON over already decoded, with the engine's ``json_deserializer``.)"""
    if isinstance(raw, str | bytes):
        if raw in ("{}", "[]", b"{}", b"[]", "null", b"null"):
            return type(empty)()
        return load_json(raw)
    return raw if raw is not None else type(empty)()

"""History: every job with its parameters and seed, and a reproducibility card per output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from stationthis.core.users import Account
from stationthis.platforms.web.api.views import WEB_REPLY, JobOut
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows.history import HistoryEntry, ReproCard

router = APIRouter(prefix="/api/v1", tags=["history"])
_AUTH = (401, 403)


class HistoryOut(BaseModel):
    job_id: str
    tool: str
    tool_version: str | None
    category: str
    engine: str
    params: dict[str, Any] = Field(description="as run, with the concrete seed")
    inputs: dict[str, str]
    state: str
    outputs: list[str]
    quote: int
    cost: int | None
    seed: int | None
    duration_seconds: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    parent_id: str | None
    origin: str | None


class CardOut(BaseModel):
    tool: str
    tool_version: str | None
    engine: str
    params: dict[str, Any]
    inputs: dict[str, str]
    job_id: str | None
    output_index: int
    media_id: str | None
    output_seed: int | None


class Rerun(BaseModel):
    card: CardOut
    force: bool = Field(False, description="run even if the tool or engine changed since")


def history_out(e: HistoryEntry) -> HistoryOut:
    return HistoryOut(
        job_id=e.job_id, tool=e.tool, tool_version=e.tool_version, category=e.category,
        engine=e.engine, params={k: v for k, v in e.params.items() if not k.startswith("_")},
        inputs=e.inputs, state=e.state, outputs=e.outputs, quote=e.quote, cost=e.cost,
        seed=e.seed if "seed" in e.params else None, duration_seconds=e.duration,
        created_at=e.created_at, started_at=e.started_at, finished_at=e.finished_at,
        error=e.error, parent_id=e.parent_id, origin=e.origin)


@router.get("/history", response_model=list[HistoryOut], responses=documented(*_AUTH, 422))
async def recent(request: Request, user: Account = Depends(current_account),
                 limit: int = Query(20, ge=1, le=100),
                 tool: str | None = Query(None, max_length=100)) -> list[HistoryOut]:
    """The user's jobs, newest first, optionally of one tool."""
    entries = await station(request).history.recent(user, limit, tool)
    return [history_out(e) for e in entries]


@router.get("/history/{job_id}", response_model=HistoryOut, responses=documented(*_AUTH, 404))
async def entry(job_id: str, request: Request,
                user: Account = Depends(current_account)) -> HistoryOut:
    return history_out(await station(request).history.entry(user, job_id))


@router.get("/media/{media_id}/card", response_model=CardOut, tags=["media"],
            responses=documented(*_AUTH, 400, 404))
async def card(media_id: str, request: Request,
               user: Account = Depends(current_account)) -> CardOut:
    """The reproducibility card of an output: everything needed to make it again."""
    c = await station(request).history.card(user, media_id)
    return CardOut(**vars(c))


@router.post("/history/rerun", status_code=202, response_model=JobOut,
             responses=documented(*_AUTH, 400, 402, 404, 409, 422, 429))
async def rerun(body: Rerun, request: Request,
                user: Account = Depends(current_account)) -> JobOut:
    """Run a card again with the same seed (409 when the tool or engine changed since,
    unless ``force``)."""
    card = ReproCard(**body.card.model_dump())
    job = await station(request).history.rerun(user, card, force=body.force, reply=WEB_REPLY)
    return JobOut.of(job)

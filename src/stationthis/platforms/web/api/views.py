"""Response models shared by several routers, and converters from workflow results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, Field
from pydantic_core import to_json

from stationthis.core.job_queries import JobListing
from stationthis.core.jobs import Job
from stationthis.core.media import MediaItem
from stationthis.core.replies import WebReply
from stationthis.workflows.make_image import Quote

# Where a job started on the web reports (no web notifier: the browser follows the job's
# event stream; a user with ``notify_everywhere`` is told on their other platforms).
WEB_REPLY = WebReply()


class Progress(BaseModel):
    percent: int | None = None
    step: int | None = None
    total: int | None = None
    eta: float | None = Field(None, description="seconds left, when the engine says")
    elapsed: float | None = None
    message: str | None = None
    has_preview: bool = False


class JobOut(BaseModel):
    id: str
    tool: str
    category: str
    state: str = Field(description="queued | preparing | running | uploading | succeeded | "
                       "failed | cancelled")
    progress: Progress
    params: dict[str, Any]
    inputs: dict[str, str] = Field(description="input name → media id")
    outputs: list[str] = Field(description="media ids of the results")
    quote: int = Field(description="points held for it")
    cost: int | None = Field(description="points charged (once succeeded)")
    error: str | None
    error_code: str | None
    engine: str
    parent_id: str | None
    origin: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    prompts: list[str] | None = Field(
        None, description="a succeeded describe job: the prompts found, each ready to run "
        "as a make job's prompt")

    @classmethod
    def of(cls, job: Job | JobListing) -> JobOut:
        return cls(**job_fields(job))


def job_fields(job: Job | JobListing) -> dict[str, Any]:
    """A ``JobOut``'s fields as plain values: ``JobOut.of`` validates them; a list of jobs is
    written straight to JSON from them (``jobs_response``)."""
    return {
        "id": job.id, "tool": job.tool, "category": job.category, "state": job.state,
        "progress": progress_fields(job.progress),
        "params": {k: v for k, v in job.params.items() if not k.startswith("_")},
        "inputs": job.inputs, "outputs": job.outputs, "quote": job.quote, "cost": job.cost,
        "error": job.error, "error_code": job.error_code, "engine": job.engine,
        "parent_id": job.parent_id, "origin": job.origin,
        "cancel_requested": job.cancel_requested, "created_at": job.created_at,
        "started_at": job.started_at, "finished_at": job.finished_at,
    }


def jobs_response(jobs: list[JobListing], prompts: dict[str, list[str]] | None = None
                  ) -> Response:
    """``{"jobs": [JobOut, …]}`` as JSON without a model per job: building and validating 100
    models costs more than the database read. The values are typed already (``JobListing``);
    tests check that an item equals ``JobOut`` of the same job. ``prompts``: a describe job's
    prompts by its id, as ``GET /jobs/{id}`` shows them."""
    found = prompts or {}
    body = {"jobs": [{**job_fields(j), "prompts": found.get(j.id)} for j in jobs]}
    return Response(to_json(body, inf_nan_mode="null"), media_type="application/json")


def progress_of(raw: dict[str, Any]) -> Progress:
    return Progress(**progress_fields(raw))


def progress_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The engine's progress as the API shows it: numbers only where they are numbers."""
    percent, step, total = _number(raw, "percent"), _number(raw, "step"), _number(raw, "total")
    message = raw.get("message")
    return {
        "percent": int(percent) if percent is not None else None,
        "step": int(step) if step is not None else None,
        "total": int(total) if total is not None else None,
        "eta": _number(raw, "eta"), "elapsed": _number(raw, "elapsed"),
        "message": str(message) if message is not None else None,
        "has_preview": bool(raw.get("has_preview")),
    }


def _number(raw: dict[str, Any], key: str) -> int | float | None:
    value = raw.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class MediaOut(BaseModel):
    id: str
    kind: str = Field(description="upload | output | dataset | model | text")
    media_type: str
    size: int
    width: int | None
    height: int | None
    sha256: str
    job_id: str | None
    created_at: datetime
    url: str = Field(description="the file")
    thumbnail_url: str | None = Field(description="a small JPEG (images only)")

    @classmethod
    def of(cls, item: MediaItem) -> MediaOut:
        base = f"/api/v1/media/{item.id}"
        return cls(
            id=item.id, kind=item.kind, media_type=item.media_type, size=item.size,
            width=item.width, height=item.height, sha256=item.sha256, job_id=item.job_id,
            created_at=item.created_at, url=f"{base}/file",
            thumbnail_url=f"{base}/thumbnail" if item.is_image else None,
        )


class AlternativeOut(BaseModel):
    description: str
    options: dict[str, Any]
    points: int


class QuoteOut(BaseModel):
    tool: str
    params: dict[str, Any] = Field(description="the inputs as they would run")
    points: int
    available: int
    fits: bool
    alternatives: list[AlternativeOut] = Field(description="cheaper variants that fit")

    @classmethod
    def of(cls, quote: Quote) -> QuoteOut:
        return cls(
            tool=quote.tool, points=quote.points, available=quote.available, fits=quote.fits,
            params={k: v for k, v in quote.params.items() if not k.startswith("_")},
            alternatives=[AlternativeOut(description=a.description, options=a.options,
                                         points=a.points) for a in quote.alternatives],
        )


class Done(BaseModel):
    ok: bool = True

"""What a job is: its states, its row as a value, and what creating one takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from stationthis.core.db import as_utc
from stationthis.core.replies import Reply, read_reply


class JobState(StrEnum):
    """A job's state (a str, so it compares and serialises as its name)."""

    QUEUED = "queued"
    PREPARING = "preparing"  # a training gathering and packing its dataset
    RUNNING = "running"
    UPLOADING = "uploading"
    HELD = "held"  # outputs waiting for an operator's review (core/review.py)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobState.QUEUED, JobState.PREPARING, JobState.RUNNING, JobState.UPLOADING)
FINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Job:
    id: str
    owner_id: str
    payer_id: str
    tool: str
    category: str
    params: dict[str, Any]
    inputs: dict[str, str]
    state: JobState
    progress: dict[str, Any]
    engine: str
    run_id: str | None
    run_data: dict[str, Any] | None
    quote: int
    cost: int | None
    outputs: list[str]
    error: str | None
    error_code: str | None
    reply: Reply | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    group_id: str | None = None
    parent_id: str | None = None
    origin: str | None = None  # regenerate | variation | tweak | None (a new request)
    tool_version: str | None = None
    lease_owner: str | None = None  # the worker running it now (core/leases.py)

    @property
    def ref(self) -> str:
        return f"job:{self.id}"

    @property
    def finished(self) -> bool:
        return self.state in FINAL


@dataclass(frozen=True)
class NewJob:
    owner_id: str
    payer_id: str
    tool: str
    category: str
    params: dict[str, Any]
    quote: int
    engine: str
    inputs: dict[str, str] | None = None
    reply: Reply | None = None
    group_id: str | None = None
    parent_id: str | None = None
    origin: str | None = None
    tool_version: str | None = None
    # Born leased: the worker of the process that creates the job runs it at once, with no
    # claim (``core/worker.Worker.add``); None leaves it queued for any worker to claim.
    lease: JobLease | None = None


@dataclass(frozen=True)
class JobLease:
    worker: str
    until: datetime


def job_from_row(row: Any) -> Job:
    def ts(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    return Job(
        id=row.id, owner_id=row.owner_id, payer_id=row.payer_id, tool=row.tool,
        category=row.category, params=dict(row.params), inputs=dict(row.inputs or {}),
        state=JobState(row.state), progress=dict(row.progress or {}), engine=row.engine,
        run_id=row.run_id, run_data=row.run_data, quote=row.quote, cost=row.cost,
        outputs=list(row.outputs or []), error=row.error, error_code=row.error_code,
        reply=read_reply(row.reply), cancel_requested=bool(row.cancel_requested),
        created_at=as_utc(row.created_at), started_at=ts(row.started_at),
        finished_at=ts(row.finished_at), group_id=row.group_id, parent_id=row.parent_id,
        origin=row.origin, tool_version=row.tool_version, lease_owner=row.lease_owner,
    )

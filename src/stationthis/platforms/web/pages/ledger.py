"""The account's history as people read it: one line per job ("make · 4 images · 60 points"),
its hold, capture and releases folded in; grants and transfers a line each; consecutive
allowance refills one line. Paged."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stationthis.core.errors import NotFound
from stationthis.core.jobs import JobService
from stationthis.core.points import LedgerEntry

PAGE = 20
_KINDS = {"grant": "points added", "transfer": "points moved in", "allowance": "free allowance",
          "purchase": "points bought", "refund": "refund"}


@dataclass
class Line:
    when: datetime
    ref: str | None  # "job:<id>" for a job's line
    points: int  # the points it moved: negative for spent, positive for received
    what: str = ""
    detail: str = ""  # "4 images", "cancelled — nothing charged", …
    state: str = ""  # charged | held | returned | added
    count: int = 1  # entries folded into it (refills)

    @property
    def job_id(self) -> str | None:
        return self.ref[4:] if self.ref and self.ref.startswith("job:") else None

    @property
    def amount(self) -> str:
        if self.state == "held":
            return f"{-self.points} points held"
        if self.state == "returned":
            return "nothing charged"
        if self.points < 0:
            return f"{-self.points} points"
        return f"+{self.points} points"


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int


def fold(entries: list[LedgerEntry]) -> list[Line]:
    """Ledger rows (newest first) as lines, newest first."""
    lines: list[Line] = []
    by_ref: dict[str, Line] = {}
    held: dict[str, int] = {}
    for e in entries:
        if e.ref and e.kind in ("hold", "capture", "release"):
            line = by_ref.get(e.ref)
            if line is None:
                line = by_ref[e.ref] = Line(e.created_at, e.ref, 0, state="held")
                lines.append(line)
            line.when = min(line.when, e.created_at)  # when it started
            if e.kind == "hold":
                held[e.ref] = held.get(e.ref, 0) - e.amount
            elif e.kind == "capture":
                line.state = "charged"
                line.points = -(e.charged or 0)
            elif line.state != "charged":
                line.state = "returned"
            continue
        last = lines[-1] if lines else None
        if (e.kind == "allowance" and last is not None and last.ref is None
                and last.what == _KINDS["allowance"]):
            last.points += e.amount  # consecutive refills: one line
            last.count += 1
            last.detail = f"{last.count} refills"
            continue
        what = _KINDS.get(e.kind, e.kind)
        memo = "" if (e.memo or "") == what else (e.memo or "")
        lines.append(Line(e.created_at, e.ref, e.amount, what, memo,
                          "added" if e.amount >= 0 else "charged"))
    for ref, line in by_ref.items():
        if line.state == "held":
            line.points = -held.get(ref, 0)
    return lines


def page_of(lines: list[Line], number: int) -> tuple[list[Line], Pager]:
    pages = max(1, math.ceil(len(lines) / PAGE))
    number = min(max(1, number), pages)
    return lines[(number - 1) * PAGE: number * PAGE], Pager(number, pages)


async def describe(lines: list[Line], jobs: JobService) -> None:
    """Name each job line after its job: the tool, how many images, how it ended."""
    for line in lines:
        job_id = line.job_id
        if job_id is None or line.what:
            continue
        try:
            job = await jobs.get(job_id)
        except NotFound:
            line.what = "a job"
            continue
        line.what = job.tool
        line.detail = _detail(job.state, job.outputs, job.params)


def _detail(state: str, outputs: list[str], params: dict[str, Any]) -> str:
    if state == "succeeded":
        n = len(outputs)
        return f"{n} image{'s' if n != 1 else ''}" if n else "done"
    if state in ("failed", "cancelled"):
        return state
    batch = params.get("batch")
    return f"{state}, {batch} images" if isinstance(batch, int) and batch > 1 else state

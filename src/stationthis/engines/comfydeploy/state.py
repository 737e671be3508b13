"""What we know of one ComfyUI Deploy run, and how that becomes engine events.

Run records arrive out of order — a poll and a webhook-triggered read can cross, a replica can
lag — so ``RunState.apply`` only ever moves forward: a status of lower rank, or any record
after a final one, is ignored, and progress never decreases. ``Emitter`` turns the state into
events for one ``events()`` stream, each at most once: ``started`` once, ``progress`` only when
something visible changed, and exactly one final event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from stationthis.core.engine import EngineEvent

log = logging.getLogger(__name__)

ACTIVE = ("started", "running", "uploading")
FINAL = ("success", "failed", "timeout", "cancelled")
_RANK = {"not-started": 0, "queued": 1, "started": 2, "running": 3, "uploading": 4,
         **dict.fromkeys(FINAL, 5)}
PROGRESS_TOTAL = 100


@dataclass
class RunState:
    job_id: str
    run_id: str
    status: str = "not-started"
    progress: float = 0.0
    live_status: str | None = None
    error: str | None = None
    version: int = 0  # bumped on every forward move; streams wait for it to change
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    fetch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fetches_wanted: int = 0
    fetches_done: int = 0

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def apply(self, record: dict[str, Any]) -> bool:
        """Merge one run record from the API; True when the state moved forward."""
        status = record.get("status")
        if not isinstance(status, str) or status not in _RANK:
            log.warning("run %s: ignoring unknown ComfyUI Deploy status %r", self.run_id, status)
            return False
        if self.final or _RANK[status] < _RANK[self.status]:
            return False
        before = (self.status, self.progress, self.live_status)
        self.status = status
        self.progress = max(self.progress, _fraction(record.get("progress")))
        live = record.get("live_status")
        if isinstance(live, str) and live.strip():
            self.live_status = live.strip()[:300]
        if status == "failed":
            error = record.get("error")
            self.error = error.strip()[:500] if isinstance(error, str) and error.strip() else None
        if (self.status, self.progress, self.live_status) == before:
            return False
        self.version += 1
        return True


@dataclass
class Emitter:
    """The events one stream still owes its reader, given the current state."""

    started: bool = False
    last_progress: tuple[str, int, str | None] | None = None
    finished: bool = False

    def catch_up(self, state: RunState) -> list[EngineEvent]:
        if self.finished:
            return []
        events: list[EngineEvent] = []
        if not self.started and (state.status in ACTIVE or state.status == "success"):
            self.started = True
            events.append(EngineEvent("started", message=state.live_status))
        if state.status in ACTIVE:
            step = int(state.progress * PROGRESS_TOTAL)
            key = (state.status, step, state.live_status)
            if key != self.last_progress:
                self.last_progress = key
                events.append(EngineEvent("progress", step=step, total=PROGRESS_TOTAL,
                                          message=state.live_status or state.status))
        if state.final:
            self.finished = True
            events.append(final_event(state))
        return events


def final_event(state: RunState) -> EngineEvent:
    if state.status == "success":
        return EngineEvent("done")
    if state.status == "cancelled":
        return EngineEvent("cancelled")
    if state.status == "timeout":
        return EngineEvent("error", message="the run timed out on ComfyUI Deploy")
    return EngineEvent("error", message=failure_message(state.error, state.live_status))


def failure_message(error: str | None, live_status: str | None) -> str:
    details = [d for d in (live_status, error) if d]
    if len(details) == 2 and details[0] == details[1]:
        details = details[:1]
    return "ComfyUI Deploy run failed" + (": " + " — ".join(details) if details else "")


def _fraction(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if number != number:  # NaN
        return 0.0
    return min(1.0, max(0.0, number))

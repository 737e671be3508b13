"""A scriptable Engine for tests: succeed, fail, hang, lose runs — at the protocol level."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from PIL import Image

from stationthis.core.engine import (
    Artifact,
    Capability,
    EngineEvent,
    EngineHealth,
    JobSpec,
    RunHandle,
)
from stationthis.core.errors import EngineFailed, RunLost


def png(width: int = 64, height: int = 64, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Script:
    """What the next run does."""

    steps: int = 3
    delay: float = 0.0  # per step
    fail: str | None = None  # error message reported by the engine
    fail_in_result: str | None = None
    outputs: int = 1
    hang: bool = False  # never finishes until cancelled
    lose: bool = False  # the engine forgets the run (as after its restart)


@dataclass
class _Run:
    spec: JobSpec
    script: Script
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False


class ScriptedEngine:
    name = "scripted"
    capabilities = frozenset({Capability.TRAIN})  # it "runs" any job, trainings included

    def __init__(self, default: Script | None = None) -> None:
        self.default = default or Script()
        self.next: list[Script] = []
        self.runs: dict[str, _Run] = {}
        self.submits: list[str] = []
        self.cancels: list[str] = []
        self.healthy = True

    def script(self, *scripts: Script) -> None:
        self.next.extend(scripts)

    async def submit(self, job: JobSpec) -> RunHandle:
        self.submits.append(job.job_id)
        if job.job_id not in self.runs:
            script = self.next.pop(0) if self.next else self.default
            self.runs[job.job_id] = _Run(job, script)
        return RunHandle(self.name, job.job_id, f"run-{job.job_id}")

    async def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        run = self.runs.get(handle.job_id)
        if run is None or run.script.lose:
            raise RunLost("the engine does not know this run any more")
        yield EngineEvent("started")
        step = 0
        while run.script.hang or step < run.script.steps:
            if run.cancelled.is_set():
                yield EngineEvent("cancelled")
                return
            step += 1
            yield EngineEvent("progress", step=step, total=run.script.steps)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.cancelled.wait(), run.script.delay or 0.001)
        if run.script.fail:
            yield EngineEvent("error", message=run.script.fail)
            return
        run.finished = True
        yield EngineEvent("done")

    async def result(self, handle: RunHandle) -> list[Artifact]:
        run = self.runs.get(handle.job_id)
        if run is None or run.script.lose:
            raise RunLost("the engine does not know this run any more")
        if run.script.fail_in_result:
            raise EngineFailed(run.script.fail_in_result)
        if run.script.fail:
            raise EngineFailed(run.script.fail)
        w = int(run.spec.params.get("width") or 64)
        h = int(run.spec.params.get("height") or 64)
        return [
            Artifact(png(w, h, (10 * i % 255, 80, 160)), "image/png", f"{handle.job_id}_{i}.png")
            for i in range(run.script.outputs)
        ]

    async def cancel(self, handle: RunHandle) -> None:
        self.cancels.append(handle.job_id)
        run = self.runs.get(handle.job_id)
        if run is not None:
            run.cancelled.set()

    async def health(self) -> EngineHealth:
        return EngineHealth(self.healthy, self.name, "scripted test engine")

    async def aclose(self) -> None:
        return None

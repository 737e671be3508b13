"""The preview engine: the built-in, offline default backend.

Runs execute in-process as asyncio tasks. Every run keeps its full event history, so any
number of ``events`` readers (including late ones) see the same sequence from "started" to
the final "done", "error" or "cancelled". Runs are known only to this engine instance: after
a restart their handles raise ``RunLost``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from stationthis.core.engine import Artifact, EngineEvent, EngineHealth, JobSpec, RunHandle
from stationthis.core.errors import EngineFailed, RunLost

from .params import steps_for
from .pipelines import PIPELINES, Context

TERMINAL = frozenset({"done", "error", "cancelled"})
DETAIL = "built-in preview engine (procedural images, no AI model)"


@dataclass(eq=False)
class _Run:
    handle: RunHandle
    job: JobSpec
    events: list[EngineEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    artifacts: list[Artifact] | None = None
    error: str | None = None
    cancel_requested: bool = False
    task: asyncio.Task[list[Artifact]] | None = None

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)
        self.wake.set()
        self.wake = asyncio.Event()


class PreviewEngine:
    """Procedural images, Lanczos upscaling, colour-based background removal and
    style-profile training: everything works without a GPU or a network."""

    name = "preview"

    def __init__(
        self,
        step_delay: float = 0.0,
        fail_when: Callable[[JobSpec], str | None] | None = None,
        max_parallel: int = 2,
        keep_finished: int = 256,
    ) -> None:
        """``step_delay``: seconds to sleep per progress event (for slow test jobs).
        ``fail_when``: returns an error message to make a run fail (fault injection).
        ``max_parallel``: runs doing CPU work at once. ``keep_finished``: finished runs
        remembered for ``result``; older ones are forgotten (``RunLost``)."""
        self.step_delay = step_delay
        self.fail_when = fail_when
        self.keep_finished = keep_finished
        self._slots = asyncio.Semaphore(max_parallel)
        self._runs: dict[str, _Run] = {}
        self._by_job: dict[str, str] = {}
        self._finished: deque[str] = deque()

    async def submit(self, job: JobSpec) -> RunHandle:
        known = self._by_job.get(job.job_id)
        if known is not None:
            return self._runs[known].handle
        handle = RunHandle(self.name, job.job_id, f"preview-{uuid.uuid4().hex}")
        run = _Run(handle, job)
        self._runs[handle.run_id] = run
        self._by_job[job.job_id] = handle.run_id
        run.task = asyncio.create_task(self._execute(run), name=f"preview:{job.job_id}")
        run.task.add_done_callback(lambda task: self._settle(run, task))
        return handle

    async def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        run = self._lookup(handle)
        seen = 0
        while True:
            while seen < len(run.events):
                event = run.events[seen]
                seen += 1
                yield event
                if event.kind in TERMINAL:
                    return
            await run.wake.wait()

    async def result(self, handle: RunHandle) -> list[Artifact]:
        run = self._lookup(handle)
        await run.finished.wait()
        if run.artifacts is None:
            raise EngineFailed(run.error or "the run failed", job_id=handle.job_id)
        return list(run.artifacts)

    async def cancel(self, handle: RunHandle) -> None:
        """Stop a run; a no-op for finished or unknown runs."""
        run = self._runs.get(handle.run_id)
        if run is None or run.finished.is_set() or run.task is None:
            return
        run.cancel_requested = True
        run.task.cancel()
        await run.finished.wait()

    async def health(self) -> EngineHealth:
        load = sum(1 for run in self._runs.values() if not run.finished.is_set())
        return EngineHealth(ok=True, name=self.name, detail=DETAIL, load=load)

    async def aclose(self) -> None:
        """Cancel every run in flight (call on shutdown)."""
        for run in list(self._runs.values()):
            await self.cancel(run.handle)

    def _lookup(self, handle: RunHandle) -> _Run:
        run = self._runs.get(handle.run_id)
        if run is None or handle.engine != self.name or run.handle.job_id != handle.job_id:
            raise RunLost(
                f"the preview engine does not know run {handle.run_id} of job {handle.job_id} "
                "(it may have restarted); the work is lost",
                job_id=handle.job_id,
            )
        return run

    async def _execute(self, run: _Run) -> list[Artifact]:
        job = run.job
        run.emit(EngineEvent("started", message=DETAIL))
        pipeline = PIPELINES.get(job.category)
        if pipeline is None:
            supported = ", ".join(PIPELINES)
            raise EngineFailed(
                f"the preview engine cannot run '{job.category}' jobs (it runs {supported})"
            )
        if self.fail_when is not None and (message := self.fail_when(job)):
            raise EngineFailed(message)
        ctx = Context(run.emit, steps_for(job), self.step_delay, self._slots)
        artifacts = await pipeline(job, ctx)
        await ctx.advance(1.0)
        return artifacts

    def _settle(self, run: _Run, task: asyncio.Task[list[Artifact]]) -> None:
        """Record how a run ended and emit its final event (runs as the task's callback)."""
        if task.cancelled():
            if run.cancel_requested:
                run.error = "cancelled"
                run.emit(EngineEvent("cancelled", message="cancelled"))
            else:
                run.error = "the run was interrupted (the engine shut down)"
                run.emit(EngineEvent("error", message=run.error))
        elif (exc := task.exception()) is not None:
            if isinstance(exc, EngineFailed):
                run.error = exc.message
            else:
                run.error = f"preview engine error: {type(exc).__name__}: {exc}"
            run.emit(EngineEvent("error", message=run.error))
        else:
            run.artifacts = task.result()
            run.emit(EngineEvent("done", message=f"{len(run.artifacts)} output(s)"))
        run.finished.set()
        self._finished.append(run.handle.run_id)
        while len(self._finished) > self.keep_finished:
            old = self._runs.pop(self._finished.popleft(), None)
            if old is not None and self._by_job.get(old.handle.job_id) == old.handle.run_id:
                del self._by_job[old.handle.job_id]


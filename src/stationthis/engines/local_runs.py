"""Run bookkeeping shared by the engines that work in this process (preview, diffusers).

Every run is an asyncio task that keeps its full event history, so any number of ``events``
readers (late ones included) see the same sequence from "started" to the final "done",
"error" or "cancelled". Submitting the same job twice returns the first run. Finished runs
are remembered for ``result`` up to ``keep_finished``; older ones, and every run after a
restart, raise ``RunLost``.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from stationthis.core.engine import Artifact, EngineEvent, JobSpec, RunHandle
from stationthis.core.errors import EngineFailed, RunLost

TERMINAL = frozenset({"done", "error", "cancelled"})


class RunCancelled(Exception):
    """Raised by a run's own work when it stopped because cancel was asked for."""


@dataclass(eq=False)
class LocalRun:
    handle: RunHandle
    job: JobSpec
    events: list[EngineEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    stop: threading.Event = field(default_factory=threading.Event)  # for worker threads
    artifacts: list[Artifact] | None = None
    error: str | None = None
    cancel_requested: bool = False
    in_thread: bool = False
    task: asyncio.Task[list[Artifact]] | None = None

    def emit(self, event: EngineEvent) -> None:
        if self.events and self.events[-1].kind in TERMINAL:
            return  # a late event (e.g. from a worker thread) after the run ended
        self.events.append(event)
        self.wake.set()
        self.wake = asyncio.Event()


class LocalRuns:
    """The runs of one engine instance."""

    def __init__(self, engine: str, keep_finished: int) -> None:
        self.engine = engine
        self.keep_finished = keep_finished
        self._runs: dict[str, LocalRun] = {}
        self._by_job: dict[str, str] = {}
        self._finished: deque[str] = deque()

    def start(
        self, job: JobSpec,
        work: Callable[[LocalRun], Coroutine[Any, Any, list[Artifact]]],
    ) -> RunHandle:
        """Start ``work(run)`` as the job's run (the job's existing run, if it has one)."""
        known = self._by_job.get(job.job_id)
        if known is not None:
            return self._runs[known].handle
        handle = RunHandle(self.engine, job.job_id, f"{self.engine}-{uuid.uuid4().hex}")
        run = LocalRun(handle, job)
        self._runs[handle.run_id] = run
        self._by_job[job.job_id] = handle.run_id
        run.task = asyncio.create_task(work(run), name=f"{self.engine}:{job.job_id}")
        run.task.add_done_callback(lambda task: self._settle(run, task))
        return handle

    async def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        run = self.lookup(handle)
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
        run = self.lookup(handle)
        await run.finished.wait()
        if run.artifacts is None:
            raise EngineFailed(run.error or "the run failed", job_id=handle.job_id)
        return list(run.artifacts)

    def unfinished(self, run_id: str) -> LocalRun | None:
        """The run, if it is still going (for cancel); None for finished or unknown runs."""
        run = self._runs.get(run_id)
        if run is None or run.finished.is_set() or run.task is None:
            return None
        return run

    @property
    def load(self) -> int:
        return sum(1 for run in self._runs.values() if not run.finished.is_set())

    def all(self) -> list[LocalRun]:
        return list(self._runs.values())

    def lookup(self, handle: RunHandle) -> LocalRun:
        run = self._runs.get(handle.run_id)
        if run is None or handle.engine != self.engine or run.handle.job_id != handle.job_id:
            raise RunLost(
                f"the {self.engine} engine does not know run {handle.run_id} of job "
                f"{handle.job_id} (it may have restarted); the work is lost",
                job_id=handle.job_id,
            )
        return run

    def _settle(self, run: LocalRun, task: asyncio.Task[list[Artifact]]) -> None:
        """Record how a run ended and emit its final event (runs as the task's callback)."""
        exc = None if task.cancelled() else task.exception()
        if task.cancelled() or isinstance(exc, RunCancelled):
            if run.cancel_requested:
                run.error = "cancelled"
                run.emit(EngineEvent("cancelled", message="cancelled"))
            else:
                run.error = "the run was interrupted (the engine shut down)"
                run.emit(EngineEvent("error", message=run.error))
        elif exc is not None:
            if isinstance(exc, EngineFailed):
                run.error = exc.message
            else:
                run.error = f"{self.engine} engine error: {type(exc).__name__}: {exc}"
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

"""The diffusers engine: local Stable Diffusion generation and LoRA training.

Weights are the user's: a diffusers model folder (``model_index.json`` and one folder per
component). The pipeline is loaded once, at the first job, onto ``device`` ("cpu", "cuda",
"cuda:1", "mps").

Runs execute in worker threads (the event loop stays responsive) and report back with
``loop.call_soon_threadsafe``. Like the preview engine, every run keeps its full event history,
so any number of ``events`` readers, late ones included, see the same sequence from "started"
to the final "done", "error" or "cancelled". ``cancel`` sets a flag that the denoising
callback and the training loop check at every step. Runs are known only to this engine
instance: after a restart their handles raise ``RunLost``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from stationthis.core.engine import Artifact, EngineEvent, EngineHealth, JobSpec, RunHandle
from stationthis.core.errors import EngineFailed, RunLost

from .model import EXTRA_HINT, Model, check_model_dir, generate, load_model
from .params import gen_params, train_params
from .training import train_lora
from .worker import Cancelled, Reporter

TERMINAL = frozenset({"done", "error", "cancelled"})
CATEGORIES = ("txt2img", "train")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass(eq=False)
class _Run:
    handle: RunHandle
    job: JobSpec
    events: list[EngineEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    artifacts: list[Artifact] | None = None
    error: str | None = None
    cancel_requested: bool = False
    in_thread: bool = False
    task: asyncio.Task[list[Artifact]] | None = None

    def emit(self, event: EngineEvent) -> None:
        if self.events and self.events[-1].kind in TERMINAL:
            return  # a late event from the worker thread after the run ended
        self.events.append(event)
        self.wake.set()
        self.wake = asyncio.Event()


class DiffusersEngine:
    """Stable Diffusion (diffusers) on this machine: txt2img with LoRAs, and LoRA training."""

    name = "diffusers"

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "cpu",
        max_parallel: int = 1,
        keep_finished: int = 256,
    ) -> None:
        """``max_parallel``: runs holding a worker thread at once (they still take turns on
        the one pipeline). ``keep_finished``: finished runs remembered for ``result``."""
        self.model_dir = Path(model_dir)
        self.device = device
        self.keep_finished = keep_finished
        self._slots = asyncio.Semaphore(max(1, max_parallel))
        self._runs: dict[str, _Run] = {}
        self._by_job: dict[str, str] = {}
        self._finished: deque[str] = deque()
        self._model: Model | None = None
        self._load_lock = threading.Lock()
        self._load_error: str | None = None

    # -- the Engine protocol -------------------------------------------------------------

    async def submit(self, job: JobSpec) -> RunHandle:
        known = self._by_job.get(job.job_id)
        if known is not None:
            return self._runs[known].handle
        handle = RunHandle(self.name, job.job_id, f"diffusers-{uuid.uuid4().hex}")
        run = _Run(handle, job)
        self._runs[handle.run_id] = run
        self._by_job[job.job_id] = handle.run_id
        run.task = asyncio.create_task(self._execute(run), name=f"diffusers:{job.job_id}")
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
        """Stop a run (at its next step); a no-op for finished or unknown runs."""
        run = self._runs.get(handle.run_id)
        if run is None or run.finished.is_set() or run.task is None:
            return
        run.cancel_requested = True
        run.stop.set()
        if not run.in_thread:
            run.task.cancel()  # still waiting for a slot: nothing to interrupt
        await run.finished.wait()

    async def health(self) -> EngineHealth:
        load = sum(1 for run in self._runs.values() if not run.finished.is_set())
        where = f"model {self.model_dir} on {self.device}"
        if self._model is not None:
            return EngineHealth(True, self.name, f"diffusers: {where} (loaded)", load)
        problems = [check_model_dir(self.model_dir), self._load_error]
        if not _installed("diffusers"):
            problems.append(f"the engine is not installed; {EXTRA_HINT}")
        found = [p for p in problems if p]
        if found:
            return EngineHealth(False, self.name, f"diffusers: {where}: {'; '.join(found)}", load)
        return EngineHealth(True, self.name, f"diffusers: {where} (loads at first use)", load)

    async def aclose(self) -> None:
        """Cancel every run in flight (call on shutdown)."""
        for run in list(self._runs.values()):
            await self.cancel(run.handle)

    # -- internals -----------------------------------------------------------------------

    def _lookup(self, handle: RunHandle) -> _Run:
        run = self._runs.get(handle.run_id)
        if run is None or handle.engine != self.name or run.handle.job_id != handle.job_id:
            raise RunLost(
                f"the diffusers engine does not know run {handle.run_id} of job "
                f"{handle.job_id} (it may have restarted); the work is lost",
                job_id=handle.job_id,
            )
        return run

    def _ensure_model(self) -> Model:
        """The loaded pipeline, loading it on first use (worker thread)."""
        with self._load_lock:
            if self._model is None:
                try:
                    self._model = load_model(self.model_dir, self.device)
                except EngineFailed as exc:
                    self._load_error = exc.message
                    raise
                self._load_error = None
            return self._model

    def _work(self, run: _Run, report: Reporter) -> list[Artifact]:
        """The whole run, in a worker thread."""
        job = run.job
        if job.category not in CATEGORIES:
            raise EngineFailed(
                f"the diffusers engine cannot run '{job.category}' jobs "
                f"(it runs {', '.join(CATEGORIES)})"
            )
        model = self._ensure_model()
        report.check()
        if job.category == "train":
            return train_lora(model, job, train_params(job, model.default_side), report)
        return generate(model, job, gen_params(job, model.default_side), report)

    async def _execute(self, run: _Run) -> list[Artifact]:
        loop = asyncio.get_running_loop()
        async with self._slots:
            if run.stop.is_set():
                raise Cancelled()
            run.emit(EngineEvent("started", message=f"diffusers on {self.device}"))
            run.in_thread = True
            try:
                return await asyncio.to_thread(self._work, run, Reporter(loop, run.emit, run.stop))
            except asyncio.CancelledError:
                run.stop.set()  # the loop is shutting down: let the thread stop too
                raise

    def _settle(self, run: _Run, task: asyncio.Task[list[Artifact]]) -> None:
        """Record how a run ended and emit its final event (runs as the task's callback)."""
        exc = None if task.cancelled() else task.exception()
        if task.cancelled() or isinstance(exc, Cancelled):
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
                run.error = f"diffusers engine error: {type(exc).__name__}: {exc}"
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


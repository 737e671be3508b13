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
from collections.abc import AsyncIterator
from pathlib import Path

from stationthis.core.engine import (
    Artifact,
    Capability,
    EngineEvent,
    EngineHealth,
    JobSpec,
    RunHandle,
)
from stationthis.core.errors import EngineFailed
from stationthis.engines.diffusers.model import (
    EXTRA_HINT,
    Model,
    check_model_dir,
    generate,
    load_model,
)
from stationthis.engines.diffusers.params import gen_params, train_params
from stationthis.engines.diffusers.training import train_lora
from stationthis.engines.diffusers.worker import Cancelled, Reporter
from stationthis.engines.local_runs import LocalRun, LocalRuns

CATEGORIES = ("txt2img", "train")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class DiffusersEngine:
    """Stable Diffusion (diffusers) on this machine: txt2img with LoRAs, and LoRA training."""

    name = "diffusers"
    capabilities = frozenset({Capability.TRAIN})  # LoRA files

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
        self._slots = asyncio.Semaphore(max(1, max_parallel))
        self._runs = LocalRuns(self.name, keep_finished)
        self._model: Model | None = None
        self._load_lock = threading.Lock()
        self._load_error: str | None = None

    # -- the Engine protocol -------------------------------------------------------------

    async def submit(self, job: JobSpec) -> RunHandle:
        return self._runs.start(job, self._execute)

    def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        return self._runs.events(handle)

    async def result(self, handle: RunHandle) -> list[Artifact]:
        return await self._runs.result(handle)

    async def cancel(self, handle: RunHandle) -> None:
        """Stop a run (at its next step); a no-op for finished or unknown runs."""
        run = self._runs.unfinished(handle.run_id)
        if run is None or run.task is None:
            return
        run.cancel_requested = True
        run.stop.set()
        if not run.in_thread:
            run.task.cancel()  # still waiting for a slot: nothing to interrupt
        await run.finished.wait()

    async def health(self) -> EngineHealth:
        load = self._runs.load
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
        for run in self._runs.all():
            await self.cancel(run.handle)

    # -- internals -----------------------------------------------------------------------

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

    def _work(self, run: LocalRun, report: Reporter) -> list[Artifact]:
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

    async def _execute(self, run: LocalRun) -> list[Artifact]:
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

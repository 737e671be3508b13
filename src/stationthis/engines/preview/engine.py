"""The preview engine: the built-in, offline default backend.

Runs execute in-process as asyncio tasks. Every run keeps its full event history, so any
number of ``events`` readers (including late ones) see the same sequence from "started" to
the final "done", "error" or "cancelled". Runs are known only to this engine instance: after
a restart their handles raise ``RunLost``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from stationthis.core.engine import (
    Artifact,
    Capability,
    EngineEvent,
    EngineHealth,
    JobSpec,
    RunHandle,
)
from stationthis.core.errors import EngineFailed
from stationthis.engines.local_runs import LocalRun, LocalRuns
from stationthis.engines.preview import loras as preview_loras
from stationthis.engines.preview.imageio import ENGINE_VERSION
from stationthis.engines.preview.params import steps_for
from stationthis.engines.preview.pipelines import PIPELINES, Context

DETAIL = f"built-in preview engine v{ENGINE_VERSION} (procedural images, no AI model)"


class PreviewEngine:
    """Procedural images, Lanczos upscaling, colour-based background removal and
    style-profile training: everything works without a GPU or a network."""

    name = "preview"
    capabilities = frozenset({Capability.TRAIN,  # style profiles
                              Capability.LORA_FILES})  # fixed looks stand in for LoRA files
    version = ENGINE_VERSION  # also in every output's PNG text and metadata

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
        self._slots = asyncio.Semaphore(max_parallel)
        self._runs = LocalRuns(self.name, keep_finished)

    async def submit(self, job: JobSpec) -> RunHandle:
        return self._runs.start(job, self._execute)

    def events(self, handle: RunHandle) -> AsyncIterator[EngineEvent]:
        return self._runs.events(handle)

    async def result(self, handle: RunHandle) -> list[Artifact]:
        return await self._runs.result(handle)

    async def cancel(self, handle: RunHandle) -> None:
        """Stop a run; a no-op for finished or unknown runs."""
        run = self._runs.unfinished(handle.run_id)
        if run is None or run.task is None:
            return
        run.cancel_requested = True
        run.task.cancel()
        await run.finished.wait()

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True, name=self.name, detail=DETAIL, load=self._runs.load)

    async def lora_names(self) -> list[str]:
        """The fixed preview looks that stand in for a server's LoRA files (loras.py)."""
        return list(preview_loras.NAMES)

    async def aclose(self) -> None:
        """Cancel every run in flight (call on shutdown)."""
        for run in self._runs.all():
            await self.cancel(run.handle)

    async def _execute(self, run: LocalRun) -> list[Artifact]:
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

"""The job runner: drives one job through its engine and records every step.

It never trusts the engine's stream alone: when the stream ends it asks for the result, and
at start-up ``reconcile`` looks up every unfinished job. Lost work is failed and refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from stationthis.core import log_context
from stationthis.core.engine import (
    Artifact,
    Engine,
    EngineEvent,
    ImageInput,
    JobSpec,
    RunHandle,
)
from stationthis.core.errors import EngineFailed, NotFound, StationError
from stationthis.core.events import EventBus, JobCancelRequested
from stationthis.core.jobs import Job, JobService
from stationthis.core.jobs_model import JobState
from stationthis.core.media import MediaItem, MediaService, Staged
from stationthis.core.review import OutputCheck
from stationthis.core.tools import ToolRegistry

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self, jobs: JobService, engine: Engine, media: MediaService, tools: ToolRegistry,
        bus: EventBus, *, timeout_seconds: float = 1800, progress_interval: float = 0.5,
        output_check: OutputCheck | None = None,
    ) -> None:
        self.jobs = jobs
        self.engine = engine
        self.media = media
        self.tools = tools
        self.timeout_seconds = timeout_seconds
        self.progress_interval = progress_interval
        self.output_check = output_check  # flagged outputs are held for review (review.py)
        self._handles: dict[str, RunHandle] = {}
        self.retry: set[str] = set()  # jobs to hand back: the database failed under them
        # At most this many jobs talk to the engine and the database to start at once: a
        # worker that claims thousands does not open thousands of connections in a burst.
        self._starting = asyncio.Semaphore(32)
        self._cancelling: set[str] = set()

    async def run(self, job_id: str | Job, worker: str | None = None) -> None:
        """Run (or resume) a job until it reaches a final state. Never raises.

        With ``worker`` every write is fenced on that worker's lease: once another worker
        has taken the job over, nothing this run does changes it."""
        try:
            job = job_id if isinstance(job_id, Job) else await self.jobs.get(job_id)
        except NotFound:
            log.warning("job %s vanished before it ran", job_id)
            return
        except Exception:  # the database is unreachable or overloaded: the job stays queued
            log.exception("job %s could not be read; it runs at the next start", job_id)
            return
        # every log line of this job names it (each job runs in its own task)
        log_context.bind(job_id=job.id, user_id=job.owner_id)
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await self._run(job, worker)
        except TimeoutError:
            handle = self._handles.get(job.id)
            if handle is not None:
                with contextlib.suppress(Exception):
                    await self.engine.cancel(handle)
            await self.jobs.fail(job.id, "the job took too long and was stopped", "timeout",
                                 worker=worker)
        except StationError as exc:
            await self.jobs.fail(job.id, exc.message, exc.code, worker=worker)
        except SQLAlchemyError as exc:  # the database failed, not the job: try again later
            log.warning("job %s: the database failed (%s); it goes back to the queue",
                        job.id, type(exc).__name__)
            self.retry.add(job.id)
        except Exception:
            log.exception("job %s crashed", job.id)
            await self.jobs.fail(job.id, "an internal error stopped this job", "internal",
                                 worker=worker)
        finally:
            self._handles.pop(job.id, None)
            self._cancelling.discard(job.id)

    async def _run(self, job: Job, worker: str | None) -> None:
        if job.finished:
            return
        if job.state in ("queued", "preparing"):  # not yet with the engine: (re)submit
            if job.cancel_requested:
                await self.jobs.mark_cancelled(job.id, worker=worker)
                return
            if job.category == "train":
                await self.jobs.mark_preparing(job.id, worker=worker)
                await self.jobs.report_progress(
                    await self.jobs.get(job.id), {"message": "preparing the dataset"},
                    worker=worker,
                )
            async with self._starting:
                handle = await self.engine.submit(await self._spec(job))
            # The run's id is written beside the run, not in its way: the engine's first
            # frames (and a quick job's result) are followed meanwhile, and the write has
            # answered before anything is stored or charged.
            started: asyncio.Task[bool | None] | None = asyncio.create_task(
                self._started(job, handle, worker, asyncio.current_task()))
            job = replace(job, state=JobState.RUNNING, run_id=handle.run_id,
                          run_data=handle.data)
        else:  # running/uploading when we (re)started: pick the run up again
            started = None
            handle = RunHandle(self.engine.name, job.id, job.run_id or job.id, job.run_data or {})
            job = await self.jobs.get(job.id)
        self._handles[job.id] = handle
        if job.cancel_requested:
            await self.engine.cancel(handle)
        try:
            outcome = await self._follow(job, handle, worker)
        except BaseException:
            if started is not None:
                with contextlib.suppress(Exception):
                    await started  # the run's id lands before the failure does
            raise
        if started is not None:
            cancel_requested = await started
            if cancel_requested is None:
                return  # cancelled while we were submitting, or another worker's now
            job = replace(job, cancel_requested=cancel_requested)
        if outcome == "cancelled":
            await self.jobs.mark_cancelled(job.id, worker=worker)
            return
        check = self.output_check
        if check is not None:  # the check reads the stored outputs: their rows come first
            if not await self.jobs.mark_uploading(job.id, worker=worker):
                return  # cancelled, finished or taken over meanwhile: store nothing
            outputs = [item.id for item in await self._store(job, handle)]
            if await check.screen(job, outputs, worker=worker):
                return  # held for review: charged and delivered only when an admin releases it
            await self.jobs.succeed(job.id, outputs, cost=job.quote, worker=worker)
            return
        # The files first, then ONE transaction writes their rows, the final state, the
        # charge and the outbox: a crash before it leaves only files (pruned as orphans)
        # and a job that resumes from its run; a job that ended otherwise keeps no files.
        # If succeed raises, its commit may still have happened (an error while publishing,
        # or a cancel while the writer commits): the files stay, and prune_orphans removes
        # them later if no row refers to them.
        staged = await self._stage(job, handle)
        outputs = [item.id for item in staged]
        done = await self.jobs.succeed(job.id, outputs, cost=job.quote, worker=worker,
                                       staged=staged)
        if done.state != "succeeded" or done.outputs != outputs:
            await self.media.discard(staged, rows=False)  # cancelled, or not ours to finish

    async def _started(
        self, job: Job, handle: RunHandle, worker: str | None,
        run: asyncio.Task[Any] | None,
    ) -> bool | None:
        """Write that the job runs as ``handle``; whether a cancel was asked meanwhile, or
        None when the job moved on without us. (A small answer: it is kept while the job
        runs, and a worker keeps thousands running.)"""
        async with self._starting:  # bounded like the submit: a burst opens no flood
            running = await self.jobs.start_running(job, handle.run_id, handle.data,
                                                    worker=worker)
        if running is None:
            current = await self.jobs.get(job.id)
            if worker is None or current.lease_owner == worker:
                await self.cancel(job.id)  # cancelled while we were submitting
                await self.jobs.mark_cancelled(job.id, worker=worker)
            elif run is not None:
                run.cancel()  # another worker owns the job (and the run) now: stop following
            return None
        if running.cancel_requested:
            await self.cancel(job.id)
        return running.cancel_requested

    async def _artifacts(self, job: Job, handle: RunHandle) -> tuple[list[Artifact],
                                                                    dict[str, str]]:
        artifacts = await self.engine.result(handle)
        if not artifacts:
            raise EngineFailed("the engine finished without producing any output")
        text = {
            "stationthis:engine": self.engine.name,
            "stationthis:tool": job.tool,
            "stationthis:job": job.id,
            "stationthis:seed": str(job.params.get("seed", "")),
            "stationthis:prompt": str(job.params.get("prompt", ""))[:2000],
        }
        return artifacts, text

    async def _store(self, job: Job, handle: RunHandle) -> list[MediaItem]:
        """Each output stored with its row (for the output check, which reads them)."""
        artifacts, text = await self._artifacts(job, handle)
        return [await self.media.store_artifact(job.owner_id, artifact, job_id=job.id,
                                                text=text) for artifact in artifacts]

    async def _stage(self, job: Job, handle: RunHandle) -> list[Staged]:
        """Each output's file stored, without rows (``succeed`` writes them)."""
        artifacts, text = await self._artifacts(job, handle)
        staged: list[Staged] = []
        try:
            for artifact in artifacts:
                staged.append(await self.media.stage_artifact(job.owner_id, artifact,
                                                              job_id=job.id, text=text))
        except BaseException:
            await self.media.discard(staged, rows=False)
            raise
        return staged

    async def _follow(self, job: Job, handle: RunHandle, worker: str | None) -> str:
        """Consume the engine's events; returns "done" or "cancelled"; raises on error."""
        last = 0.0
        started = time.monotonic()
        current: dict[str, Any] = {}  # a preview or node event keeps the last step/percent
        # Progress is written beside the run, not in its way: each write waits for the one
        # before it (same order, same events) and the last is awaited before the outcome.
        writing: asyncio.Task[None] | None = None
        outcome = "done"  # stream ended without a verdict: result() decides
        try:
            async for event in self.engine.events(handle):
                if event.kind == "error":
                    raise EngineFailed(event.message or "the engine reported an error")
                if event.kind in ("cancelled", "done"):
                    outcome = event.kind
                    break
                if "run_data" in event.extra:
                    await self.jobs.update_run(job.id, dict(event.extra["run_data"]),
                                               worker=worker)
                now = time.monotonic()
                current = {**current, **_progress(event, now - started)}
                if event.kind in ("started", "preview") or now - last >= self.progress_interval:
                    last = now
                    # "started" with nothing but the time is what start_running wrote
                    # (state running): published, not written again
                    store = event.kind != "started" or set(current) != {"elapsed"}
                    writing = asyncio.create_task(
                        self._report(writing, job, current, event.preview, worker, store))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
            elif writing is not None and not writing.cancelled():
                writing.exception()  # seen: the run's own error is the one that counts
        return outcome

    async def _report(self, before: asyncio.Task[None] | None, job: Job,
                      progress: dict[str, Any], preview: bytes | None,
                      worker: str | None, store: bool = True) -> None:
        if before is not None:
            await before
        await self.jobs.report_progress(job, progress, preview=preview, worker=worker,
                                        store=store)

    async def _spec(self, job: Job) -> JobSpec:
        tool = self.tools.get(job.tool)
        images: dict[str, ImageInput] = {}
        for name, media_id in job.inputs.items():
            item = await self.media.get(media_id)
            images[name] = ImageInput(await self.media.read(item), item.media_type)
        assets: dict[str, bytes] = {}
        for name, media_id in dict(job.params.get("_assets", {})).items():
            assets[name] = await self.media.read(await self.media.get(media_id))
        params = {k: v for k, v in job.params.items() if not k.startswith("_")}
        bindings = {
            name: (spec.node, spec.field)
            for name, spec in tool.inputs.items()
            if spec.node is not None and spec.field is not None
        }
        return JobSpec(
            job_id=job.id, tool=job.tool, category=job.category, params=params,
            graph=tool.fill_graph(params), images=images, assets=assets, bindings=bindings,
        )

    async def on_cancel_requested(self, event: JobCancelRequested) -> None:
        """A cancel asked in this process (bootstrap wires it to the bus)."""
        await self.cancel(event.job_id)

    async def cancel(self, job_id: str) -> bool:
        """Ask the engine to stop a job this process is running. Whether it was here."""
        handle = self._handles.get(job_id)
        if handle is None or job_id in self._cancelling:
            return handle is not None
        self._cancelling.add(job_id)  # once: a cancel may come by bus, signal and heartbeat
        with contextlib.suppress(Exception):
            await self.engine.cancel(handle)
        return True


def _progress(event: EngineEvent, elapsed: float) -> dict[str, Any]:
    progress: dict[str, Any] = {"elapsed": round(elapsed, 2)}
    if event.step is not None and event.total:
        progress.update(step=event.step, total=event.total)
        progress["percent"] = round(100 * event.step / event.total)
        if event.step:
            progress["eta"] = round(elapsed / event.step * (event.total - event.step), 1)
    if event.node:
        progress["node"] = event.node
    if event.message:
        progress["message"] = event.message
    if event.preview is not None:
        progress["has_preview"] = True
    loss = event.extra.get("loss")
    if isinstance(loss, int | float):
        progress["loss"] = round(float(loss), 4)
    return progress

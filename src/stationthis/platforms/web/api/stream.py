"""A job's server-sent events: the job now, its progress as it comes, the job at the end.

Progress and completion come from the event bus; the row is also re-read every second, so a
job finished by another process (or whose completion event came before we listened) still
ends the stream."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from ....core.events import Event, JobEvent, JobProgressed
from ....workflows.app import App
from .views import JobOut, progress_of

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
PREVIEW_MAX = 512 * 1024


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def job_events(app: App, job_id: str) -> AsyncIterator[str]:
    queue: asyncio.Queue[JobEvent] = asyncio.Queue(maxsize=256)

    async def on_event(event: Event) -> None:
        if isinstance(event, JobEvent) and event.job_id == job_id:
            with contextlib.suppress(asyncio.QueueFull):  # a slow reader skips progress
                queue.put_nowait(event)

    unsubscribe = app.bus.subscribe(on_event, JobEvent)
    try:
        job = await app.jobs.get(job_id)
        yield sse("job", JobOut.of(job).model_dump(mode="json"))
        quiet = 0.0
        while not job.finished:
            try:
                event = await asyncio.wait_for(queue.get(), POLL_SECONDS)
            except TimeoutError:
                job = await app.jobs.get(job_id)
                quiet += POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS and not job.finished:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                continue
            quiet = 0.0
            if isinstance(event, JobProgressed):
                yield sse("progress", _progress(event))
            else:
                job = await app.jobs.get(job_id)
                if not job.finished:
                    yield sse("job", JobOut.of(job).model_dump(mode="json"))
        yield sse("job", JobOut.of(job).model_dump(mode="json"))
    finally:
        unsubscribe()


def _progress(event: JobProgressed) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_id": event.job_id, "state": event.state,
        "progress": progress_of(event.progress).model_dump(mode="json"),
    }
    if event.preview and len(event.preview) <= PREVIEW_MAX:
        kind = "image/png" if event.preview.startswith(b"\x89PNG") else "image/jpeg"
        data["preview"] = f"data:{kind};base64,{base64.b64encode(event.preview).decode()}"
    return data

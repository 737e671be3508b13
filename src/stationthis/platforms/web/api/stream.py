"""A job's server-sent events: the job now, its progress as it comes, the job at the end.

Progress comes from three places, so a job running in another process (a worker) streams
here too:
- the event bus (a job running in this process);
- the signal channel ``job:<id>`` (``app.signals``: Redis between processes, where the worker
  publishes its progress — see ``core/progress_fanout.py``);
- the job's row, re-read every second: progress stored there that was not sent yet is sent
  from it (the path that works with no signals at all), and a job finished elsewhere (or
  whose completion event came before we listened) still ends the stream; a new state seen
  there is sent as a ``job`` event.
The same progress is never sent twice in a row, whichever way it came first.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from stationthis.core.events import Event, JobEvent, JobProgressed
from stationthis.core.progress_fanout import ProgressMessage, progress_from_signal
from stationthis.core.signals import Subscription, job_channel
from stationthis.platforms.web.api.views import JobOut, progress_of
from stationthis.workflows.app import App

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
PREVIEW_MAX = 512 * 1024

Item = JobEvent | ProgressMessage


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def job_events(app: App, job_id: str) -> AsyncIterator[str]:
    queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=256)

    async def on_event(event: Event) -> None:
        if isinstance(event, JobEvent) and event.job_id == job_id:
            with contextlib.suppress(asyncio.QueueFull):  # a slow reader skips progress
                queue.put_nowait(event)

    unsubscribe = app.bus.subscribe(on_event, JobEvent)
    try:
        async with app.signals.subscribe(job_channel(job_id)) as signals:
            pump = asyncio.create_task(_pump(signals, queue))
            try:
                async for chunk in _stream(app, job_id, queue):
                    yield chunk
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
    finally:
        unsubscribe()


async def _stream(app: App, job_id: str, queue: asyncio.Queue[Item]) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    job = await app.jobs.get(job_id)
    yield sse("job", JobOut.of(job).model_dump(mode="json"))
    sent = _Sent(progress_of(job.progress).model_dump(mode="json"))
    row_seen, state_sent = sent.progress, job.state
    next_read = last_yield = loop.time()
    next_read += POLL_SECONDS
    while not job.finished:
        try:
            item = await asyncio.wait_for(queue.get(), max(0.0, next_read - loop.time()))
        except TimeoutError:
            job = await app.jobs.get(job_id)
            next_read = loop.time() + POLL_SECONDS
            if job.finished:
                break
            row = progress_of(job.progress).model_dump(mode="json")
            if job.state != state_sent:  # e.g. started by a worker in another process
                state_sent, row_seen, sent = job.state, row, _Sent(row)
                last_yield = loop.time()
                yield sse("job", JobOut.of(job).model_dump(mode="json"))
                continue
            if row != row_seen:  # the row moved (maybe in another process)
                row_seen = row
                if row != sent.progress:
                    sent = _Sent(row)
                    last_yield = loop.time()
                    yield sse("progress", {"job_id": job_id, "state": job.state, "progress": row})
                    continue
            if loop.time() - last_yield >= KEEPALIVE_SECONDS:
                last_yield = loop.time()
                yield ": keep-alive\n\n"
            continue
        if isinstance(item, JobProgressed | ProgressMessage):
            data = _progress(job_id, item.state, item.progress, item.preview)
            if sent.repeats(data):
                continue
            sent = _Sent(data["progress"], data.get("preview"))
            last_yield = loop.time()
            yield sse("progress", data)
        else:
            job = await app.jobs.get(job_id)
            if not job.finished:
                state_sent, last_yield = job.state, loop.time()
                yield sse("job", JobOut.of(job).model_dump(mode="json"))
    yield sse("job", JobOut.of(job).model_dump(mode="json"))


async def _pump(signals: Subscription, queue: asyncio.Queue[Item]) -> None:
    """Messages of the job's signal channel into the stream's queue."""
    while True:
        message = await signals.get(None)
        if message is None:
            continue
        progress = progress_from_signal(message[1])
        if progress is not None:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(progress)


class _Sent:
    """The progress last sent (and its preview), to send nothing twice in a row."""

    def __init__(self, progress: dict[str, Any], preview: str | None = None) -> None:
        self.progress = progress
        self.preview = preview

    def repeats(self, data: dict[str, Any]) -> bool:
        return data["progress"] == self.progress and data.get("preview") in (None, self.preview)


def _progress(
    job_id: str, state: str, progress: dict[str, Any], preview: bytes | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "job_id": job_id, "state": state,
        "progress": progress_of(progress).model_dump(mode="json"),
    }
    if preview and len(preview) <= PREVIEW_MAX:
        kind = "image/png" if preview.startswith(b"\x89PNG") else "image/jpeg"
        data["preview"] = f"data:{kind};base64,{base64.b64encode(preview).decode()}"
    return data

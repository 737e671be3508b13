"""A job's event stream on one process shows the progress of the job running in another.

Two Apps on one database stand for two processes: A runs the job (its JobService reports the
progress), B serves the web (a real uvicorn, so the stream is read as it comes). Without Redis
B finds the progress in the job's row; with Redis (both on one server) it also hears it as a
signal, preview included (previews are never stored in the row). Either way each progress is
shown once — also in one process, where it comes both on the bus and as a signal — and the
stream ends when A finishes the job.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.events import JobProgressed
from stationthis.core.jobs import Job, NewJob
from stationthis.core.progress_fanout import ProgressFanout
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App
from tests.api.conftest import sign_up
from tests.support.scripted import ScriptedEngine

BOUND = 20.0  # seconds: only a bound on a hang; nothing here asserts speed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(params=["database only", "redis", "one process"])
async def processes(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[App, App, str]]:
    extra = {"redis_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    settings = make_settings(**extra)
    worker = build(settings, engine=ScriptedEngine())
    # "one process": the job runs where it is watched; its progress comes both on the bus
    # and as a signal (LocalSignals), and must still be shown once.
    web = worker if request.param == "one process" else build(settings, engine=ScriptedEngine())
    if request.param != "database only":
        # What bootstrap wires in a worker process: its progress goes out as signals.
        worker.bus.subscribe(ProgressFanout(worker.signals).on_progress, JobProgressed)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(web, manage_lifecycle=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield worker, web, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        for app in {id(worker): worker, id(web): web}.values():
            await app.signals.close()
            await app.stop()


async def _job_for(worker: App, owner_id: str) -> Job:
    job = await worker.jobs.create(NewJob(
        owner_id=owner_id, payer_id=owner_id, tool="make", category="txt2img",
        params={"prompt": "a fox"}, quote=10, engine="scripted",
    ))
    assert await worker.jobs.mark_running(job.id, "run-1")
    return await worker.jobs.get(job.id)


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    name = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line.removeprefix("data: "))
            name = None


async def test_progress_of_a_job_in_another_process_reaches_the_stream(
    processes: tuple[App, App, str], request: pytest.FixtureRequest
) -> None:
    worker, _, base = processes
    with_signals = "database" not in request.node.callspec.id
    async with httpx.AsyncClient(base_url=base, timeout=BOUND) as browser:
        me = await sign_up(browser, "alice")
        job = await _job_for(worker, me["id"])
        seen: list[tuple[str, dict[str, Any]]] = []
        async with asyncio.timeout(BOUND), browser.stream(
            "GET", f"/api/v1/jobs/{job.id}/events"
        ) as response:
            assert response.status_code == 200
            async for name, data in _events(response):
                seen.append((name, data))
                if name == "job" and len(seen) == 1:  # the stream is open: A reports
                    await worker.jobs.report_progress(
                        job, {"step": 3, "total": 10, "percent": 30}, preview=_png()
                    )
                elif name == "progress" and data["progress"]["step"] == 3:
                    # … and B shows it. A reports it again unchanged, then finishes the job.
                    await worker.jobs.report_progress(job, {"step": 3, "total": 10, "percent": 30})
                    await worker.jobs.succeed(job.id, outputs=[], cost=10)
        progress = [data for name, data in seen if name == "progress"]
        assert [p["progress"]["percent"] for p in progress] == [30]  # shown once
        assert progress[0]["job_id"] == job.id and progress[0]["state"] == "running"
        if with_signals:  # only a signal (or the bus) carries a preview: rows have none
            kind, _, encoded = progress[0]["preview"].partition(";base64,")
            assert kind == "data:image/png" and base64.b64decode(encoded) == _png()
        assert seen[-1][0] == "job" and seen[-1][1]["state"] == "succeeded"

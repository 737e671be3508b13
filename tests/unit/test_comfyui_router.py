"""The ComfyUI engine's per-server frame router and silence watch, against the fake server:
a finished job takes its images from the ``executed`` frames (no ``GET /history``), falls back
to ``/history`` when the line dropped, and many waiting jobs cost no task or timer each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.engine import EngineEvent, JobSpec
from stationthis.core.users import Identity
from stationthis.engines.comfyui import ComfyUIEngine, ServerPool
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.fake_comfyui import FakeComfyUI

HISTORY = "GET /history/{prompt_id}"


def engine_for(*urls: str, silence: float = 0.3) -> ComfyUIEngine:
    pool = ServerPool(urls, client_id="router-test", check_every=0.2)
    return ComfyUIEngine(pool, client_id="router-test", silence_timeout=silence,
                         down_grace=1.0, result_wait=3.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with FakeComfyUI() as server:
        yield server


@pytest.fixture
async def comfy_app(settings: Settings, fake: FakeComfyUI) -> AsyncIterator[App]:
    async with build(settings, engine=engine_for(fake.url)) as app:
        yield app


def blank(job_id: str) -> JobSpec:
    graph = {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 7}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                    "filename_prefix": "router"}},
    }
    return JobSpec(job_id, "blank", "txt2img", {}, graph=graph)


async def test_a_finished_job_takes_its_images_from_the_executed_frames(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    user = await comfy_app.users.resolve(Identity("test", "alice"))
    fake.script(outputs=2)
    job = await comfy_app.make_image.make(user, Request("make", {"prompt": "a fox"}))
    done = await comfy_app.jobs.wait(job.id, timeout=20)
    assert done.state == "succeeded", done.error
    assert fake.requests[HISTORY] == 0  # the socket said which files: no history lookup
    saved = sorted(name for (kind, _, name) in fake.files if kind == "output")
    stored = [await comfy_app.media.get(media_id) for media_id in done.outputs]
    assert sorted(item.meta["name"] for item in stored) == saved and len(saved) == 2


async def test_a_line_that_dropped_during_the_run_falls_back_to_history(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    user = await comfy_app.users.resolve(Identity("test", "alice"))
    fake.script(steps=5, step_delay=0.05, drop_socket_after=4)
    job = await comfy_app.make_image.make(user, Request("make", {"prompt": "a fox"}))
    done = await comfy_app.jobs.wait(job.id, timeout=20)
    assert done.state == "succeeded", done.error
    assert fake.requests[HISTORY] >= 1 and len(fake.prompts) == 1
    assert done.outputs


def ours() -> set[asyncio.Task[object]]:
    """This process's tasks but the fake server's own (one per HTTP connection)."""
    return {task for task in asyncio.all_tasks()
            if not task.get_coro().__qualname__.startswith("RequestHandler.")}


async def test_waiting_jobs_share_the_servers_tasks_and_one_queue_read(
    fake: FakeComfyUI,
) -> None:
    """Forty jobs wait on one server (one running, hung; the rest pending): the engine adds a
    reader and a silence watch for the server, not a task per job, and the watch reads
    ``/queue`` once per look for all of them — none of them asks ``/history`` while listed."""
    engine = engine_for(fake.url, silence=0.2)
    fake.script(hang=True, times=None)
    seen: dict[str, list[EngineEvent]] = {}

    async def follow(job_id: str) -> None:
        handle = await engine.submit(blank(job_id))
        seen[job_id] = [event async for event in engine.events(handle)]

    before = ours()
    followers = [asyncio.create_task(follow(f"job-{i:02d}")) for i in range(40)]
    try:
        while len(fake.prompts) < 40 or fake.requests["GET /queue"] < 6:
            await asyncio.sleep(0.05)  # waiting for the watch to look a few times
        extra = sorted(ours() - before - set(followers), key=str)
        assert len(extra) <= 3, f"{len(extra)} tasks besides the 40 jobs' own: {extra[:5]}"
        assert fake.requests[HISTORY] == 0
        assert fake.requests["GET /queue"] < 40  # not one read per job per silence
        server = engine.pool.servers[0]
        assert len(server.socket.sinks) == 40
    finally:
        for task in followers:
            task.cancel()
        for task in followers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await engine.aclose()
    assert not engine.pool.servers[0].socket.sinks  # a job that stops listening is forgotten


async def test_a_job_that_finished_unheard_is_found_by_the_silence_watch(
    fake: FakeComfyUI,
) -> None:
    engine = engine_for(fake.url)
    fake.script(silent=True)  # no frames at all; the prompt still finishes in history
    try:
        handle = await engine.submit(blank("quiet"))
        events = [event.kind async for event in engine.events(handle)]
        assert events[-1] == "done"
        artifacts = await engine.result(handle)
        assert len(artifacts) == 1 and artifacts[0].data.startswith(b"\x89PNG")
        assert fake.requests[HISTORY] >= 1
    finally:
        await engine.aclose()

"""Our ComfyUI engine against a REAL ComfyUI 0.3.75 (CPU, loopback, model-free tools).

The same scenarios as tests/unit/test_comfyui_engine.py, with the fake replaced by the real
server: whole jobs through the app, validation and runtime errors, progress, cancel, a dropped
websocket, a restart of StationThis mid-job, a killed server with a second one to move to, and
``stationthis make`` through the CLI. Every test checks what the user sees (job state, message,
the stored image) and the ledger (charged the quote on success, everything released otherwise).

Tools are in tests/integration/tools; slow jobs run the tiny random upscale model over a
large image (one ``progress`` frame per 512-px tile, 0.01 to 0.1 s per tile on 2 cores,
depending on the CPU), and tests act on progress events rather than on timing. Two tests
FAIL until their src/ bug is fixed (see their docstrings).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from stationthis.config import Settings
from stationthis.core.events import JobProgressed
from stationthis.core.jobs import Job
from stationthis.core.media import MediaItem
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.integration.conftest import TINY_MODEL, build_app, engine_for
from tests.support.comfyui import RealComfyUI
from tests.support.scripted import png

JOB_TIMEOUT_S = 90
ALLOWANCE = 1000  # a new user's points (default settings)
SLOW_SIZE = 2048  # px: slow_upscale runs 3 × 25 tiles on it (≈ 2 s on a fast CPU, ≈ 8 s slow)
SHRINK = 0.5  # the slow jobs' output: 1024 px


# ----- helpers ---------------------------------------------------------------------------

async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("test", "alice"))


async def start(
    app: App, user: Account, tool: str, options: dict[str, Any] | None = None,
    images: dict[str, str] | None = None,
) -> Job:
    return await app.make_image.make(user, Request(tool, options or {}, images=images or {}))


async def make(
    app: App, user: Account, tool: str, options: dict[str, Any] | None = None,
    images: dict[str, str] | None = None,
) -> Job:
    job = await start(app, user, tool, options, images)
    return await app.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)


async def upload(app: App, user: Account, size: tuple[int, int],
                 color: tuple[int, int, int] = (40, 120, 200)) -> MediaItem:
    """An image the user uploaded, through the hardened loader."""
    return await app.media.ingest(user.id, png(*size, color))


async def slow_job(app: App, user: Account) -> Job:
    """Tiny-model upscales of a large image: seconds of progress frames, one per tile."""
    item = await upload(app, user, (SLOW_SIZE, SLOW_SIZE))
    return await start(app, user, "slow_upscale", {"resize": SHRINK}, {"image": item.id})


async def output(app: App, user: Account, job: Job) -> tuple[MediaItem, Image.Image]:
    """The job's (only) stored image, as the user would download it."""
    assert len(job.outputs) == 1, job.outputs
    item = await app.media.get(job.outputs[0], owner_id=user.id)
    image = Image.open(io.BytesIO(await app.media.read(item)))
    image.load()
    return item, image


async def assert_ledger(app: App, user: Account, job: Job, charged: int) -> None:
    """The balance lost exactly ``charged`` to this job, and the rows say why."""
    assert (await app.ledger.balance(user.id)).total == ALLOWANCE - charged
    assert await app.ledger.verify(user.id)
    rows = [e for e in await app.ledger.history(user.id, limit=500) if e.ref == job.ref]
    assert sum(e.amount for e in rows) == -charged
    assert [e.amount for e in rows if e.kind == "hold"] == [-job.quote]
    captures = [e.charged for e in rows if e.kind == "capture"]
    assert captures == ([charged] if job.state == "succeeded" else [])


def history(server: RealComfyUI, prompt_id: str) -> dict[str, Any] | None:
    """The server's /history entry for a prompt (None: it never ran there or was forgotten)."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        entry = http.get(f"/history/{prompt_id}").json().get(prompt_id)
    return entry if isinstance(entry, dict) else None


def queue_ids(server: RealComfyUI) -> tuple[list[str], list[str]]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        data = http.get("/queue").json()
    return ([item[1] for item in data["queue_running"]],
            [item[1] for item in data["queue_pending"]])


def saved_files(server: RealComfyUI) -> set[str]:
    """Files in the server's output folder: every run of SaveImage adds one."""
    return {str(p.relative_to(server.output_dir))
            for p in server.output_dir.rglob("*") if p.is_file()}


def close_to(pixel: Any, expected: tuple[int, int, int]) -> bool:
    """ComfyUI works in floats and truncates when it saves: 255·(1 − 200/255) becomes 54."""
    return all(abs(a - b) <= 1 for a, b in zip(pixel, expected, strict=True))


def messages(entry: dict[str, Any]) -> list[str]:
    return [str(item[0]) for item in entry["status"]["messages"]]


class Watch:
    """The JobProgressed events an app publishes, by job."""

    def __init__(self, app: App) -> None:
        self.events: list[JobProgressed] = []
        self._changed = asyncio.Event()
        app.bus.subscribe(self._on, JobProgressed)

    async def _on(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [e.progress for e in self.events if e.job_id == job_id]

    def steps(self, job_id: str) -> list[dict[str, Any]]:
        return [p for p in self.of(job_id) if "step" in p]

    async def step(self, job_id: str, count: int = 1, timeout: float = 60) -> dict[str, Any]:
        """The ``count``-th progress with a step (a tile done): the server is mid-run."""
        async with asyncio.timeout(timeout):
            while len(self.steps(job_id)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.steps(job_id)[count - 1]


# ----- whole jobs ------------------------------------------------------------------------

async def test_a_blank_image_of_the_chosen_size_and_colour(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    options = {"prompt": "a blank canvas", "width": 96, "height": 40, "color": 0x3366CC}
    quote = await comfy_app.make_image.quote(user, Request("blank", options))
    done = await make(comfy_app, user, "blank", options)

    assert done.state == "succeeded", done.error
    item, image = await output(comfy_app, user, done)
    assert image.size == (96, 40) and (item.width, item.height) == (96, 40)
    assert image.convert("RGB").getpixel((50, 20)) == (0x33, 0x66, 0xCC)
    assert image.info["stationthis:job"] == done.id  # provenance written into the PNG
    assert item.meta["server"] == shared_comfyui.url
    assert done.quote == quote.points and done.cost == quote.points
    assert done.progress["percent"] == 100
    await assert_ledger(comfy_app, user, done, charged=quote.points)
    entry = history(shared_comfyui, done.id)  # our job id is ComfyUI's prompt id
    assert entry is not None and entry["status"]["status_str"] == "success"


async def test_an_uploaded_image_is_inverted(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    item = await upload(comfy_app, user, (40, 30), (10, 200, 60))
    done = await make(comfy_app, user, "invert", images={"image": item.id})

    assert done.state == "succeeded", done.error
    _, image = await output(comfy_app, user, done)
    assert image.size == (40, 30)
    assert close_to(image.convert("RGB").getpixel((5, 5)), (245, 55, 195))
    # The engine uploaded the input under our job id and wired it into LoadImage.
    assert (shared_comfyui.input_dir / "stationthis" / f"{done.id}_image.png").is_file()
    await assert_ledger(comfy_app, user, done, charged=done.quote)


async def test_the_same_request_twice_is_answered_from_comfyuis_cache(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    """ComfyUI runs nothing for a graph it has just run (every node "cached", no
    ``executing`` frames) but still reports the old files: both jobs get the image."""
    user = await alice(comfy_app)
    options = {"prompt": "twice", "width": 24, "height": 24, "color": 0x102030}
    first = await make(comfy_app, user, "blank", options)
    second = await make(comfy_app, user, "blank", options)

    assert (first.state, second.state) == ("succeeded", "succeeded"), second.error
    entry = history(shared_comfyui, second.id)
    assert entry is not None and "execution_cached" in messages(entry)
    for done in (first, second):
        _, image = await output(comfy_app, user, done)
        assert image.convert("RGB").getpixel((1, 1)) == (0x10, 0x20, 0x30)
    assert (await comfy_app.ledger.balance(user.id)).total == (
        ALLOWANCE - first.quote - second.quote
    )


async def test_an_image_tool_without_size_inputs_takes_an_image(comfy_app: App) -> None:
    """A tool whose only input is its image (``invert_bare``) must accept one.

    FAILS today: MakeImage._prepare copies the image's width/height into the options even
    when the tool has no such inputs, and Tool.resolve then refuses them ("invert_bare has
    no option 'width'")."""
    user = await alice(comfy_app)
    item = await upload(comfy_app, user, (24, 24), (0, 0, 0))
    done = await make(comfy_app, user, "invert_bare", images={"image": item.id})

    assert done.state == "succeeded", done.error
    _, image = await output(comfy_app, user, done)
    assert close_to(image.convert("RGB").getpixel((3, 3)), (255, 255, 255))


# ----- errors ----------------------------------------------------------------------------

async def test_a_value_comfyui_refuses_names_our_input_and_releases_the_hold(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    # The tool's own bounds allow -5; ComfyUI's EmptyImage does not (min 1).
    done = await make(comfy_app, user, "blank", {"prompt": "x", "width": -5, "height": 32})

    assert done.state == "failed"
    assert "the input 'width' is too small" in (done.error or ""), done.error
    await assert_ledger(comfy_app, user, done, charged=0)
    assert history(shared_comfyui, done.id) is None  # refused, never queued


async def test_a_runtime_error_names_the_node_type_and_releases_the_hold(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    done = await make(comfy_app, user, "broken")

    assert done.state == "failed"
    assert "ComfyUI failed in UpscaleModelLoader" in (done.error or ""), done.error
    assert "Traceback" not in (done.error or "")
    await assert_ledger(comfy_app, user, done, charged=0)
    entry = history(shared_comfyui, done.id)
    assert entry is not None and entry["status"]["status_str"] == "error"


async def test_a_model_no_server_has_is_refused_before_anything_is_queued(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    done = await make(comfy_app, user, "missing_model")

    assert done.state == "failed"
    assert "no ComfyUI server has the model 'no-such-model.safetensors'" in (done.error or "")
    await assert_ledger(comfy_app, user, done, charged=0)
    assert history(shared_comfyui, done.id) is None


async def test_a_model_installed_while_stationthis_runs_is_found(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    """Operators add models to running ComfyUI servers; StationThis must notice.

    FAILS today: ServerPool.has_models caches each server's model list for ever (the
    start-up tool check fills it), so the new file is never seen until StationThis
    restarts."""
    user = await alice(comfy_app)
    item = await upload(comfy_app, user, (32, 32))
    first = await make(comfy_app, user, "late_model", images={"image": item.id})
    assert first.state == "failed" and "late-model.safetensors" in (first.error or "")

    target = shared_comfyui.models_dir / "upscale_models" / "late-model.safetensors"
    shutil.copyfile(shared_comfyui.models_dir / "upscale_models" / TINY_MODEL, target)
    try:
        await asyncio.sleep(0.5)  # longer than the pool's check interval (0.2 s)
        second = await make(comfy_app, user, "late_model", images={"image": item.id})
        assert second.state == "succeeded", second.error
    finally:
        target.unlink(missing_ok=True)


# ----- progress and cancel ---------------------------------------------------------------

async def test_progress_carries_the_tile_step_and_total(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    watch = Watch(comfy_app)
    item = await upload(comfy_app, user, (1024, 1024))  # 3×3 tiles of 512 px
    done = await make(comfy_app, user, "tiny_upscale", images={"image": item.id})

    assert done.state == "succeeded", done.error
    stepped = watch.steps(done.id)
    assert stepped, watch.of(done.id)
    assert {p["total"] for p in stepped} == {9}
    assert all(1 <= p["step"] <= 9 for p in stepped)
    assert [p["step"] for p in stepped] == sorted(p["step"] for p in stepped)
    assert all(p["percent"] == round(100 * p["step"] / 9) for p in stepped)
    assert all(e.state == "running" for e in watch.events if e.job_id == done.id)
    assert done.progress["percent"] == 100
    _, image = await output(comfy_app, user, done)
    assert image.size == (2048, 2048)  # the ×2 model ran
    await assert_ledger(comfy_app, user, done, charged=done.quote)


async def test_cancel_in_the_middle_interrupts_the_server_and_releases(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    watch = Watch(comfy_app)
    before = saved_files(shared_comfyui)
    job = await slow_job(comfy_app, user)
    at = await watch.step(job.id)
    assert at["step"] < at["total"]  # really in the middle
    await comfy_app.jobs.cancel(job.id, owner_id=user.id)
    done = await comfy_app.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)

    assert done.state == "cancelled", done.error
    assert done.outputs == []
    await assert_ledger(comfy_app, user, done, charged=0)
    entry = history(shared_comfyui, job.id)
    assert entry is None or "execution_interrupted" in messages(entry), entry
    running, pending = queue_ids(shared_comfyui)
    assert job.id not in running + pending
    assert saved_files(shared_comfyui) == before  # SaveImage never ran


async def test_cancelling_a_job_queued_on_the_server_leaves_the_running_one_alone(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    """Our cancel sends /queue delete and /interrupt with the prompt id: the interrupt must
    not stop another user's prompt that is running at the time."""
    alice_ = await alice(comfy_app)
    bob = await comfy_app.users.resolve(Identity("test", "bob"))
    watch = Watch(comfy_app)
    running_job = await slow_job(comfy_app, alice_)
    await watch.step(running_job.id)
    waiting = await start(comfy_app, bob, "blank", {"prompt": "later", "color": 0x0000FF})
    async with asyncio.timeout(30):
        while waiting.id not in queue_ids(shared_comfyui)[1]:  # pending behind alice's
            await asyncio.sleep(0.02)
    await comfy_app.jobs.cancel(waiting.id, owner_id=bob.id)

    cancelled = await comfy_app.jobs.wait(waiting.id, timeout=JOB_TIMEOUT_S)
    assert cancelled.state == "cancelled", cancelled.error
    await assert_ledger(comfy_app, bob, cancelled, charged=0)
    assert history(shared_comfyui, waiting.id) is None  # deleted before it ran
    done = await comfy_app.jobs.wait(running_job.id, timeout=JOB_TIMEOUT_S)
    assert done.state == "succeeded", done.error
    entry = history(shared_comfyui, running_job.id)
    assert entry is not None and "execution_interrupted" not in messages(entry)
    await assert_ledger(comfy_app, alice_, done, charged=done.quote)


# ----- a lossy line, a restart of StationThis, a dying server ----------------------------

async def test_a_dropped_websocket_mid_run_still_succeeds_running_once(
    comfy_app: App, shared_comfyui: RealComfyUI
) -> None:
    user = await alice(comfy_app)
    watch = Watch(comfy_app)
    before = saved_files(shared_comfyui)
    job = await slow_job(comfy_app, user)
    await watch.step(job.id)
    socket = comfy_app.engine.pool.servers[0].socket  # type: ignore[attr-defined]
    socket.drop()
    seen = len(watch.steps(job.id))
    # Frames flow again on the reconnected socket (not only /history polling).
    await watch.step(job.id, count=seen + 2)
    done = await comfy_app.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)

    assert done.state == "succeeded", done.error
    _, image = await output(comfy_app, user, done)
    assert image.size == (1024, 1024)
    assert len(saved_files(shared_comfyui) - before) == 1  # executed exactly once
    entry = history(shared_comfyui, job.id)
    assert entry is not None and entry["status"]["status_str"] == "success"
    assert messages(entry).count("execution_start") == 1
    await assert_ledger(comfy_app, user, done, charged=done.quote)


async def test_a_restart_of_stationthis_picks_the_job_up_from_history(
    comfy_settings: Settings, shared_comfyui: RealComfyUI
) -> None:
    url = shared_comfyui.url
    before = saved_files(shared_comfyui)
    # Each process has its own websocket client id (as bootstrap makes them): the second
    # process gets no frames for the first one's prompt and must rely on /history.
    first = build_app(comfy_settings, engine_for(url, client_id="first-process"))
    await first.start()
    user = await alice(first)
    watch = Watch(first)
    job = await slow_job(first, user)
    await watch.step(job.id)
    await first.queue.stop(grace_seconds=0.01)  # StationThis dies; ComfyUI keeps working
    await first.relay.stop()
    await first.engine.aclose()  # type: ignore[attr-defined]
    await first.db.dispose()
    running, _ = queue_ids(shared_comfyui)
    assert running == [job.id]  # stopped in the middle of the run

    async with build_app(comfy_settings, engine_for(url, client_id="second-process")) as second:
        done = await second.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)
        assert done.state == "succeeded", done.error
        _, image = await output(second, user, done)
        assert image.size == (1024, 1024)
        await assert_ledger(second, user, done, charged=done.quote)
    assert len(saved_files(shared_comfyui) - before) == 1  # looked up, not run again
    entry = history(shared_comfyui, job.id)
    assert entry is not None and messages(entry).count("execution_start") == 1


async def test_a_comfyui_restart_that_forgot_the_job_runs_it_again_on_that_server(
    comfy_settings: Settings, shared_comfyui: RealComfyUI
) -> None:
    """One server, killed mid-run and started again (as systemd would) within the grace
    period: its queue and history are gone, so the job is queued there again, same id."""
    engine = engine_for(shared_comfyui.url, down_grace=90.0)
    async with build_app(comfy_settings, engine) as app:
        user = await alice(app)
        watch = Watch(app)
        job = await slow_job(app, user)
        await watch.step(job.id)
        await asyncio.to_thread(shared_comfyui.kill)
        before = saved_files(shared_comfyui)
        await asyncio.to_thread(shared_comfyui.start)

        done = await app.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)
        assert done.state == "succeeded", done.error
        _, image = await output(app, user, done)
        assert image.size == (1024, 1024)
        await assert_ledger(app, user, done, charged=done.quote)
    assert len(saved_files(shared_comfyui) - before) == 1
    entry = history(shared_comfyui, job.id)
    assert entry is not None and entry["status"]["status_str"] == "success"


async def test_killing_one_of_two_servers_mid_stream_does_not_lose_the_job(
    make_settings: Any, tools_dir: Path, shared_comfyui: RealComfyUI,
    second_comfyui: RealComfyUI,
) -> None:
    """The issue's "done when": a server killed while it runs our job; the job moves."""
    servers = {s.url: s for s in (second_comfyui, shared_comfyui)}
    urls = list(servers)  # the second first: idle servers tie, the first one wins
    settings = make_settings(tools_dir=tools_dir, comfyui_urls=",".join(urls))
    before = {url: saved_files(s) for url, s in servers.items()}
    engine = engine_for(*urls, down_grace=1.0)
    async with build_app(settings, engine) as app:
        user = await alice(app)
        watch = Watch(app)
        job = await slow_job(app, user)
        await watch.step(job.id)
        where = (await app.jobs.get(job.id)).run_data or {}
        victim = servers[str(where["server"])]
        survivor = next(s for s in servers.values() if s is not victim)
        await asyncio.to_thread(victim.kill)  # SIGKILL mid-stream: its queue is gone

        done = await app.jobs.wait(job.id, timeout=JOB_TIMEOUT_S)
        assert done.state == "succeeded", done.error
        assert (done.run_data or {})["server"] == survivor.url  # the move was recorded
        item, image = await output(app, user, done)
        assert item.meta["server"] == survivor.url
        assert image.size == (1024, 1024)
        await assert_ledger(app, user, done, charged=done.quote)  # charged once
        health = await engine.health()
        assert health.ok and "1/2 servers up" in health.detail
    assert len(saved_files(survivor) - before[survivor.url]) == 1
    entry = history(survivor, job.id)  # the same id, run once, on the survivor
    assert entry is not None and messages(entry).count("execution_start") == 1
    assert saved_files(victim) == before[victim.url]  # it died before saving anything


# ----- the CLI ---------------------------------------------------------------------------

def test_stationthis_make_through_the_cli(
    shared_comfyui: RealComfyUI, tools_dir: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
    env.update(
        STATIONTHIS_COMFYUI_URLS=shared_comfyui.url,
        STATIONTHIS_TOOLS_DIR=str(tools_dir),
        STATIONTHIS_DATA_DIR=str(tmp_path / "data"),
    )
    command = [str(Path(sys.executable).parent / "stationthis"), "make", "a green canvas",
               "--tool", "blank", "--width", "48", "--height", "40", "--set", "color=65280"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("blank: ") and "points" in lines[0]
    image_line = next(line for line in lines if line.startswith("image: "))
    assert image_line.endswith("(48×40)")
    path = Path(image_line.removeprefix("image: ").rsplit(" (", 1)[0])
    assert path.is_file()
    with Image.open(path) as image:
        assert image.size == (48, 40)
        assert image.convert("RGB").getpixel((10, 10)) == (0, 255, 0)
    assert "cost" in lines[-1] and "balance" in lines[-1]


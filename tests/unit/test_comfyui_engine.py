"""The ComfyUI engine against the fake server: whole jobs through the app, and every fault a
real server shows — validation and runtime errors, cancel, a lossy websocket, a dying server,
a restart of StationThis in the middle of a job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.jobs import Job
from stationthis.core.users import Account, Identity
from stationthis.engines.comfyui import ComfyUIEngine, ServerPool
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.scripted import png


def engine_for(*urls: str, down_grace: float = 2.0) -> ComfyUIEngine:
    pool = ServerPool(urls, client_id="test-client", check_every=0.2)
    return ComfyUIEngine(pool, client_id="test-client", silence_timeout=0.3,
                         down_grace=down_grace, result_wait=3.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with FakeComfyUI() as server:
        yield server


@pytest.fixture
async def comfy_app(settings: Settings, fake: FakeComfyUI) -> AsyncIterator[App]:
    async with build(settings, engine=engine_for(fake.url)) as app:
        yield app


async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("test", "alice"))


async def make(app: App, user: Account, **options: object) -> Job:
    job = await app.make_image.make(user, Request("make", {"prompt": "a fox", **options}))
    return await app.jobs.wait(job.id, timeout=20)


async def running(app: App, job_id: str) -> None:
    for _ in range(400):
        if (await app.jobs.get(job_id)).state == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job never started")


async def test_a_job_runs_on_comfyui_with_our_job_id_and_inputs(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    user = await alice(comfy_app)
    done = await make(comfy_app, user, seed=42, width=640, height=384, steps=25)
    assert done.state == "succeeded", done.error
    body = fake.prompts[-1]
    assert body["prompt_id"] == done.id  # our job id is ComfyUI's prompt id
    graph = body["prompt"]
    assert graph["3"]["inputs"]["seed"] == 42 and graph["3"]["inputs"]["steps"] == 25
    assert graph["5"]["inputs"]["width"] == 640 and graph["6"]["inputs"]["text"] == "a fox"
    item = await comfy_app.media.get(done.outputs[0], owner_id=user.id)
    assert (item.width, item.height) == (640, 384)
    assert item.meta["server"] == fake.url
    assert (await comfy_app.ledger.balance(user.id)).total == 1000 - done.quote
    assert done.progress.get("percent") == 100


async def test_input_images_are_uploaded_and_wired_into_the_graph(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    user = await alice(comfy_app)
    item = await comfy_app.media.ingest(user.id, png(96, 80))
    job = await comfy_app.make_image.make(
        user, Request("img2img", {"prompt": "watercolour", "strength": 0.4},
                      images={"image": item.id})
    )
    done = await comfy_app.jobs.wait(job.id, timeout=20)
    assert done.state == "succeeded", done.error
    graph = fake.prompts[-1]["prompt"]
    assert graph["10"]["inputs"]["image"] in fake.uploads
    assert graph["3"]["inputs"]["denoise"] == 0.4


async def test_a_validation_error_names_our_input_and_refunds(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    user = await alice(comfy_app)
    fake.script(validation_error={"node": "3", "input_name": "steps",
                                  "type": "value_bigger_than_max",
                                  "message": "Value 150 bigger than max of 100",
                                  "details": "steps"})
    done = await make(comfy_app, user)
    assert done.state == "failed"
    assert "the input 'steps' is too large" in (done.error or "")
    assert (await comfy_app.ledger.balance(user.id)).total == 1000


async def test_a_runtime_error_is_reported_and_refunded(comfy_app: App, fake: FakeComfyUI) -> None:
    user = await alice(comfy_app)
    fake.script(fail_node="3", exception_message="Allocation on device failed: out of memory")
    done = await make(comfy_app, user)
    assert done.state == "failed"
    assert "ran out of memory" in (done.error or "")
    assert (await comfy_app.ledger.balance(user.id)).total == 1000


async def test_cancel_interrupts_the_server_and_refunds(comfy_app: App, fake: FakeComfyUI) -> None:
    user = await alice(comfy_app)
    fake.script(hang=True)
    job = await comfy_app.make_image.make(user, Request("make", {"prompt": "slow"}))
    await running(comfy_app, job.id)
    await comfy_app.jobs.cancel(job.id, owner_id=user.id)
    done = await comfy_app.jobs.wait(job.id, timeout=20)
    assert done.state == "cancelled"
    assert job.id in fake.interrupts
    assert (await comfy_app.ledger.balance(user.id)).total == 1000


@pytest.mark.parametrize("fault", [{"drop_socket_after": 4}, {"silent": True}])
async def test_a_lossy_websocket_is_reconciled_with_history(
    comfy_app: App, fake: FakeComfyUI, fault: dict[str, object]
) -> None:
    user = await alice(comfy_app)
    fake.script(steps=5, step_delay=0.05, **fault)
    done = await make(comfy_app, user)
    assert done.state == "succeeded", done.error
    assert len(fake.prompts) == 1  # reconciled, never re-run
    assert done.outputs


async def test_a_server_that_dies_mid_job_loses_nothing_with_two_servers(
    settings: Settings,
) -> None:
    async with FakeComfyUI() as first, FakeComfyUI() as second:
        async with build(settings, engine=engine_for(first.url, second.url,
                                                     down_grace=0.5)) as app:
            user = await alice(app)
            died: list[str] = []

            def first_attempt(body: dict[str, object]) -> bool:
                died.append(str(body.get("prompt_id")))
                return len(died) == 1

            for fake in (first, second):  # whichever server gets the job dies during it
                fake.script(first_attempt, die_after_frames=6, steps=5, step_delay=0.05)
            done = await make(app, user)
            assert done.state == "succeeded", done.error
            assert len(first.prompts) + len(second.prompts) == 2  # moved once, same job id
            assert {p["prompt_id"] for p in first.prompts + second.prompts} == {done.id}
            assert (await app.ledger.balance(user.id)).total == 1000 - done.quote


async def test_a_dead_server_is_skipped_before_it_accepts_a_job(settings: Settings) -> None:
    async with FakeComfyUI() as dead, FakeComfyUI() as alive:
        await dead.go_down()
        async with build(settings, engine=engine_for(dead.url, alive.url)) as app:
            user = await alice(app)
            done = await make(app, user)
            assert done.state == "succeeded", done.error
            assert alive.prompts and not dead.prompts
            health = await app.engine.health()
            assert health.ok and "1/2 servers up" in health.detail
            await dead.come_back()
            await asyncio.sleep(0.3)
            assert "2/2 servers up" in (await app.engine.health()).detail


async def test_no_server_up_fails_clearly_and_refunds(settings: Settings) -> None:
    async with FakeComfyUI() as fake:
        await fake.go_down()
        async with build(settings, engine=engine_for(fake.url)) as app:
            user = await alice(app)
            done = await make(app, user)
            assert done.state == "failed"
            assert "no ComfyUI server is reachable" in (done.error or "")
            assert (await app.ledger.balance(user.id)).total == 1000


async def test_jobs_go_to_the_least_loaded_server_that_has_the_model(settings: Settings) -> None:
    async with FakeComfyUI(models={"checkpoints": ["other.safetensors"]}) as lacking, \
            FakeComfyUI() as busy, FakeComfyUI() as idle:
        busy.script(hang=True)
        async with build(settings, engine=engine_for(lacking.url, busy.url, idle.url)) as app:
            users = [await app.users.resolve(Identity("test", f"u{i}")) for i in range(3)]
            first = await app.make_image.make(users[0], Request("make", {"prompt": "a"}))
            await running(app, first.id)
            second = await make(app, users[1])
            assert second.state == "succeeded"
            assert not lacking.prompts
            servers = {fake.url: [p["prompt_id"] for p in fake.prompts]
                       for fake in (busy, idle)}
            assert first.id in servers[busy.url] + servers[idle.url]
            assert second.id not in servers.get(
                next(u for u, ids in servers.items() if first.id in ids), []
            )
            await app.jobs.cancel(first.id)


async def test_a_missing_model_everywhere_is_a_clear_failure(settings: Settings) -> None:
    async with FakeComfyUI(models={"checkpoints": ["sdxl.safetensors"]}) as fake:
        async with build(settings, engine=engine_for(fake.url)) as app:
            done = await make(app, await alice(app))
            assert done.state == "failed"
            assert "v1-5-pruned-emaonly.safetensors" in (done.error or "")


async def test_a_restart_of_stationthis_picks_the_job_up_from_history(
    make_settings: Callable[..., Settings], fake: FakeComfyUI
) -> None:
    settings = make_settings()
    first = build(settings, engine=engine_for(fake.url))
    await first.start()
    user = await alice(first)
    fake.script(steps=10, step_delay=0.1)
    job = await first.make_image.make(user, Request("make", {"prompt": "long"}))
    await running(first, job.id)
    await first.queue.stop(grace_seconds=0.01)  # StationThis dies; ComfyUI keeps working
    await first.engine.aclose()  # type: ignore[attr-defined]
    await first.db.dispose()

    async with build(settings, engine=engine_for(fake.url)) as second:
        done = await second.jobs.wait(job.id, timeout=20)
    assert done.state == "succeeded", done.error
    assert len(fake.prompts) == 1  # looked up, not run again


async def test_a_server_restart_that_lost_the_job_moves_it(settings: Settings) -> None:
    async with FakeComfyUI() as fake:
        async with build(settings, engine=engine_for(fake.url, down_grace=2.0)) as app:
            user = await alice(app)
            fake.script(hang=True)
            job = await app.make_image.make(user, Request("make", {"prompt": "x"}))
            await running(app, job.id)
            await fake.restart(forget=True)  # the queue and history are gone
            done = await app.jobs.wait(job.id, timeout=20)
            assert done.state == "succeeded", done.error
            assert [p["prompt_id"] for p in fake.prompts] == [job.id, job.id]


async def test_templates_are_checked_against_the_server(comfy_app: App) -> None:
    report = await comfy_app.check_tools()
    servers = report["make"]
    assert list(servers.values()) == [[]]  # the fake has everything `make` needs
    problems = next(iter(report["rmbg"].values()))
    assert any("not installed" in p for p in problems)


async def test_progress_carries_steps_nodes_and_preview_images(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    from stationthis.core.events import Event, JobProgressed

    seen: list[JobProgressed] = []

    async def collect(event: Event) -> None:
        assert isinstance(event, JobProgressed)
        seen.append(event)

    comfy_app.bus.subscribe(collect, JobProgressed)
    fake.script(steps=4, step_delay=0.05, preview=True)
    done = await make(comfy_app, await alice(comfy_app))
    assert done.state == "succeeded", done.error
    assert any(e.progress.get("total") == 4 and e.progress.get("step") for e in seen)
    assert any(e.progress.get("node") for e in seen)
    previews = [e.preview for e in seen if e.preview]
    assert previews and previews[0][:2] == b"\xff\xd8"  # a JPEG from the server

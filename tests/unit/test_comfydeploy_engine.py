"""The ComfyUI Deploy engine against a protocol-faithful fake of the service, on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stationthis.core.engine import Engine, EngineEvent, ImageInput, JobSpec, RunHandle
from stationthis.core.errors import EngineFailed, Forbidden, InvalidInput, RunLost
from stationthis.engines.comfydeploy import ComfyDeployEngine
from stationthis.engines.comfydeploy.webhooks import mac, make_token
from tests.support.fake_comfydeploy import (
    FakeComfyDeploy,
    WebhookReceiver,
    failed,
    hang,
    success,
    timed_out,
)
from tests.support.scripted import png

SECRET = b"test-webhook-secret-for-comfydeploy"
KEY = "test-key"


class Rig:
    def __init__(self, fake: FakeComfyDeploy) -> None:
        self.fake = fake
        self.engines: list[ComfyDeployEngine] = []
        self.receivers: list[WebhookReceiver] = []

    async def engine(self, *, webhooks: bool = True, poll_interval: float = 60.0,
                     api_key: str = KEY, base_url: str | None = None,
                     down_grace: float = 300.0) -> ComfyDeployEngine:
        hook_base = None
        holder: list[ComfyDeployEngine] = []
        if webhooks:
            receiver = WebhookReceiver(lambda token, body: holder[0].receive_webhook(token, body))
            hook_base = await receiver.start()
            self.receivers.append(receiver)
        engine = ComfyDeployEngine(
            base_url or self.fake.base_url, api_key, {"sketch": "dep-sketch"},
            webhook_base=hook_base, webhook_secret=SECRET, poll_interval=poll_interval,
            down_grace=down_grace,
        )
        holder.append(engine)
        self.engines.append(engine)
        return engine

    @property
    def answers(self) -> list[int]:
        return [a for r in self.receivers for a in r.answers]


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyDeploy]:
    service = FakeComfyDeploy(api_key=KEY, deployments={"dep-sketch"})
    await service.start()
    yield service
    await service.close()


@pytest.fixture
async def rig(fake: FakeComfyDeploy) -> AsyncIterator[Rig]:
    r = Rig(fake)
    yield r
    for engine in r.engines:
        await engine.aclose()
    for receiver in r.receivers:
        await receiver.close()


def spec(tool: str = "sketch", params: dict[str, Any] | None = None,
         images: dict[str, ImageInput] | None = None) -> JobSpec:
    return JobSpec(job_id=str(uuid.uuid4()), tool=tool, category="txt2img",
                   params=params or {"prompt": "a lighthouse", "seed": 7},
                   images=images or {})


async def collect(engine: ComfyDeployEngine, handle: RunHandle,
                  timeout: float = 5.0) -> list[EngineEvent]:
    async with asyncio.timeout(timeout):
        return [event async for event in engine.events(handle)]


def kinds(events: list[EngineEvent]) -> list[str]:
    return [e.kind for e in events]


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until_running(engine: ComfyDeployEngine, handle: RunHandle) -> None:
    """Follow the run until it reports progress, then stop following."""
    async with asyncio.timeout(5):
        async for event in engine.events(handle):
            if event.kind == "progress" and event.message == "KSampler":
                break
    assert engine.run_status(handle.job_id) == "running"


# ----- whole runs -----------------------------------------------------------------------


async def test_full_run_via_webhooks(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.default = success(outputs=2)
    engine = await rig.engine(poll_interval=60.0)  # only webhooks can finish it in time
    assert isinstance(engine, Engine)
    handle = await engine.submit(spec())
    assert handle.data == {"run_id": handle.run_id} and handle.engine == "comfydeploy"

    events = await collect(engine, handle)
    assert kinds(events)[0] == "started" and kinds(events)[-1] == "done"
    assert kinds(events).count("started") == 1 and kinds(events).count("done") == 1
    progress = [e for e in events if e.kind == "progress"]
    assert progress and all(e.total == 100 for e in progress)
    assert [e.step for e in progress] == sorted(e.step or 0 for e in progress)
    assert any(e.message == "KSampler" and e.step == 75 for e in progress)

    queued = next(r.body for r in fake.requests if r.path.endswith("/deployment/queue"))
    assert queued["webhook_intermediate_status"] is True
    assert queued["webhook"].startswith(engine.webhook_base or "-")
    assert token_of(queued["webhook"]) == make_token(SECRET, handle.job_id)
    # One read at the start plus at most one per webhook: no polling happened.
    assert fake.count("GET") <= len(fake.webhooks) + 1
    assert rig.answers and set(rig.answers) == {200}

    artifacts = await engine.result(handle)
    run = fake.runs[handle.run_id]
    names = [img["filename"] for img in run.outputs[0]["data"]["images"]]
    assert [a.name for a in artifacts] == names
    assert [a.data for a in artifacts] == [fake.files[n] for n in names]
    assert {a.media_type for a in artifacts} == {"image/png"}
    assert artifacts[0].meta["node"] == "9"
    assert engine.run_status(handle.job_id) is None  # forgotten once fetched


async def test_full_run_by_polling_when_webhooks_are_lost(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.drop_webhooks = True
    fake.default = success(delay=0.03)
    engine = await rig.engine(poll_interval=0.02)
    handle = await engine.submit(spec())
    events = await collect(engine, handle)
    assert kinds(events)[0] == "started" and kinds(events)[-1] == "done"
    assert fake.webhooks and not rig.answers  # sent into the void; polling did the work
    assert fake.count("GET") > 3
    assert len(await engine.result(handle)) == 1


async def test_polling_only_engine_sends_no_webhook(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine(webhooks=False, poll_interval=0.02)
    handle = await engine.submit(spec())
    assert kinds(await collect(engine, handle))[-1] == "done"
    assert "webhook" not in fake.requests[0].body and not fake.webhooks


async def test_failed_run_reports_the_error(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.scripts = [failed(live_status="KSampler", error="CUDA out of memory")]
    engine = await rig.engine()
    handle = await engine.submit(spec())
    events = await collect(engine, handle)
    assert kinds(events)[-1] == "error" and kinds(events).count("error") == 1
    message = events[-1].message or ""
    assert message.startswith("ComfyUI Deploy run failed")
    assert "CUDA out of memory" in message and "KSampler" in message
    with pytest.raises(EngineFailed, match="CUDA out of memory"):
        await engine.result(handle)


async def test_timeout_is_an_error(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.scripts = [timed_out()]
    engine = await rig.engine()
    handle = await engine.submit(spec())
    events = await collect(engine, handle)
    assert kinds(events)[-1] == "error"
    assert "timed out on ComfyUI Deploy" in (events[-1].message or "")


async def test_cancel(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.scripts = [hang()]
    engine = await rig.engine()
    handle = await engine.submit(spec())
    seen: list[str] = []
    async with asyncio.timeout(5):
        async for event in engine.events(handle):
            seen.append(event.kind)
            if event.kind == "progress" and fake.count("POST", "/api/run/" + handle.run_id) == 0:
                await engine.cancel(handle)
    assert seen[-1] == "cancelled" and seen.count("cancelled") == 1
    assert fake.runs[handle.run_id].status == "cancelled"
    assert fake.count("POST", f"/api/run/{handle.run_id}/cancel") == 1


async def test_cancel_errors_are_swallowed(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine(base_url=f"http://127.0.0.1:{free_port()}")
    await engine.cancel(RunHandle("comfydeploy", "j", "r", {"run_id": str(uuid.uuid4())}))


# ----- webhooks: replays, regressions, forgeries ---------------------------------------


async def test_replayed_and_late_webhooks_neither_duplicate_nor_regress(
    rig: Rig, fake: FakeComfyDeploy
) -> None:
    fake.default = success(hold_before="success")  # parks at "uploading"
    engine = await rig.engine()
    handle = await engine.submit(spec())
    events: list[EngineEvent] = []
    parked = asyncio.Event()

    async def follow() -> None:
        async for event in engine.events(handle):
            events.append(event)
            if event.message == "uploading":
                parked.set()

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(parked.wait(), 5)
    hooks = {json.loads(body)["status"]: (token_of(url), body) for url, body in fake.webhooks}
    token, uploading = hooks["uploading"]
    _, running = hooks["running"]
    before = list(events)

    # The same body twice, and an older one while a lagging read says "running".
    await engine.receive_webhook(token, uploading)
    await engine.receive_webhook(token, uploading)
    fake.stale_next_get[handle.run_id] = {"status": "running", "progress": 0.25,
                                          "live_status": "KSampler", "outputs": []}
    await engine.receive_webhook(token, running)
    assert not fake.stale_next_get  # the stale record was really served and refused
    await asyncio.sleep(0.05)
    assert engine.run_status(handle.job_id) == "uploading" and events == before

    fake.release(handle.run_id)
    await asyncio.wait_for(follower, 5)
    assert kinds(events).count("started") == 1 and kinds(events).count("done") == 1
    assert kinds(events)[-1] == "done"

    gets = fake.count("GET")
    done = next(body for _, body in fake.webhooks if json.loads(body)["status"] == "success")
    for body in (running, uploading, done):  # late and replayed after the end
        await engine.receive_webhook(token, body)
    assert engine.run_status(handle.job_id) == "success"
    assert fake.count("GET") == gets  # a finished run is not read again
    assert len(await engine.result(handle)) == 1


async def test_a_webhook_is_a_hint_not_a_verdict(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.scripts = [hang()]
    engine = await rig.engine()
    handle = await engine.submit(spec())
    await until_running(engine, handle)
    forged = json.dumps({"run_id": handle.run_id, "status": "success", "progress": 1,
                         "outputs": [{"data": {"images": [{"url": "http://evil/x.png"}]}}]})
    gets = fake.count("GET")
    await engine.receive_webhook(make_token(SECRET, handle.job_id), forged.encode())
    assert fake.count("GET") == gets + 1  # it made us look, and the service says "running"
    assert engine.run_status(handle.job_id) == "running"


async def test_forged_webhooks_are_forbidden(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.scripts = [hang(), hang()]
    engine = await rig.engine()
    mine, other = await engine.submit(spec()), await engine.submit(spec())
    await until_running(engine, mine)
    claim = json.dumps({"run_id": mine.run_id, "status": "success"}).encode()
    gets = fake.count("GET")

    bad_tokens = [
        f"{mine.job_id}.{'0' * 32}",  # a made-up mac
        f"{mine.job_id}.{mac(SECRET, other.job_id)}",  # another job's mac
        f"{mine.job_id}.{mac(b'another secret', mine.job_id)}",  # another key's mac
        mine.job_id, "", f"{mine.job_id}.{mac(SECRET, mine.job_id)[:31]}",
        f"{mine.job_id}.{mac(SECRET, mine.job_id)}é",
    ]
    for token in bad_tokens:
        with pytest.raises(Forbidden):
            await engine.receive_webhook(token, claim)
    # The right mac, but the body names another run.
    other_run = json.dumps({"run_id": other.run_id, "status": "success"}).encode()
    with pytest.raises(Forbidden):
        await engine.receive_webhook(make_token(SECRET, mine.job_id), other_run)

    assert fake.count("GET") == gets
    assert engine.run_status(mine.job_id) == "running"

    # Through HTTP the route answers 403.
    async with httpx.AsyncClient() as client:
        hook_base = engine.webhook_base or ""
        response = await client.post(f"{hook_base}/{bad_tokens[1]}", content=claim)
    assert response.status_code == 403
    await engine.cancel(mine)
    await engine.cancel(other)


async def test_malformed_webhook_bodies_are_invalid_input(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    handle = await engine.submit(spec())
    token = make_token(SECRET, handle.job_id)
    for body in (b"not json", b"[1, 2]", b'{"status": "success"}', b'{"run_id": 5}',
                 b'{"run_id": "x"}', b"\xff\xfe", b""):
        with pytest.raises(InvalidInput):
            await engine.receive_webhook(token, body)
    with pytest.raises(Forbidden):  # the signature is checked before the body is read
        await engine.receive_webhook(f"{handle.job_id}.{'f' * 32}", b"not json")


async def test_webhook_for_a_job_we_do_not_follow_is_accepted(rig: Rig,
                                                              fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    body = json.dumps({"run_id": str(uuid.uuid4()), "status": "running"}).encode()
    await engine.receive_webhook(make_token(SECRET, "job-of-another-process"), body)
    assert fake.requests == []


# ----- submitting ----------------------------------------------------------------------


async def test_inputs_and_images_as_data_urls(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    image = png(16, 16)
    job = spec(params={"prompt": "a cat", "seed": 3, "loras": ["a", "b"], "negative": None,
                       "_assets": {"x": "y"}, "strength": 0.5},
               images={"image": ImageInput(image, "image/png")})
    handle = await engine.submit(job)
    run = fake.runs[handle.run_id]
    assert run.deployment_id == "dep-sketch"
    data_url = run.inputs.pop("image")
    assert run.inputs == {"prompt": "a cat", "seed": 3, "loras": "a,b", "strength": 0.5}
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix) and base64.b64decode(data_url[len(prefix):]) == image
    await engine.cancel(handle)


async def test_submit_is_idempotent(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    job = spec()
    first, second = await asyncio.gather(engine.submit(job), engine.submit(job))
    third = await engine.submit(job)
    assert first == second == third
    assert fake.count("POST", "/api/run/deployment/queue") == 1


async def test_wrong_api_key(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine(api_key="wrong")
    with pytest.raises(EngineFailed, match=r"^ComfyUI Deploy refused the API key$"):
        await engine.submit(spec())
    health = await engine.health()
    assert not health.ok and "refused the API key" in health.detail


async def test_unknown_tool(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    with pytest.raises(EngineFailed, match="'upscale'"):
        await engine.submit(spec(tool="upscale"))
    assert fake.requests == []


async def test_service_rejection_carries_its_message(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    fake.queue_error = (400, {"error": "Input 'seed' must be an integer"})
    with pytest.raises(EngineFailed, match="Input 'seed' must be an integer"):
        await engine.submit(spec())
    fake.queue_error = (502, {"error": "bad gateway"})
    with pytest.raises(EngineFailed, match="unreachable"):
        await engine.submit(spec())


async def test_service_down(rig: Rig) -> None:
    engine = await rig.engine(base_url=f"http://127.0.0.1:{free_port()}")
    job = spec()
    with pytest.raises(EngineFailed, match=r"^ComfyUI Deploy is unreachable"):
        await engine.submit(job)
    assert not (await engine.health()).ok
    with pytest.raises(EngineFailed, match="unreachable"):  # nothing was remembered
        await engine.submit(job)


async def test_a_passing_outage_is_waited_out(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.drop_webhooks = True
    engine = await rig.engine(poll_interval=0.02)
    handle = await engine.submit(spec())
    fake.fail_next_gets = 3
    assert kinds(await collect(engine, handle))[-1] == "done"
    assert fake.fail_next_gets == 0


async def test_a_long_outage_ends_the_stream(rig: Rig) -> None:
    engine = await rig.engine(base_url=f"http://127.0.0.1:{free_port()}", poll_interval=0.02,
                              down_grace=0.1)
    handle = RunHandle("comfydeploy", "j", "r", {"run_id": str(uuid.uuid4())})
    with pytest.raises(EngineFailed, match="unreachable"):
        await collect(engine, handle)


# ----- picking up, results, health -----------------------------------------------------


async def test_restart_picks_the_run_up_from_its_handle(rig: Rig, fake: FakeComfyDeploy) -> None:
    first = await rig.engine()
    handle = await first.submit(spec())
    assert kinds(await collect(first, handle))[-1] == "done"
    await first.aclose()

    second = await rig.engine(webhooks=False)
    saved = RunHandle("comfydeploy", handle.job_id, handle.run_id, {"run_id": handle.run_id})
    assert kinds(await collect(second, saved)) == ["started", "done"]
    artifacts = await second.result(saved)
    assert len(artifacts) == 1 and artifacts[0].data.startswith(b"\x89PNG")


async def test_a_run_the_service_does_not_know_is_lost(rig: Rig) -> None:
    engine = await rig.engine()
    handle = RunHandle("comfydeploy", "j", "r", {"run_id": str(uuid.uuid4())})
    with pytest.raises(RunLost):
        await collect(engine, handle)
    with pytest.raises(RunLost):
        await collect(engine, RunHandle("comfydeploy", "j", "../../other", {}))


async def test_output_download_failure(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    handle = await engine.submit(spec())
    assert kinds(await collect(engine, handle))[-1] == "done"
    fake.files.clear()
    with pytest.raises(EngineFailed, match=r"^could not download"):
        await engine.result(handle)


async def test_api_key_stays_off_other_origins(rig: Rig, fake: FakeComfyDeploy) -> None:
    fake.files_base = fake.base_url.replace("127.0.0.1", "localhost")
    engine = await rig.engine()
    handle = await engine.submit(spec())
    assert kinds(await collect(engine, handle))[-1] == "done"
    assert len(await engine.result(handle)) == 1
    downloads = [r for r in fake.requests if r.path.startswith("/files/")]
    assert downloads and not any(r.authorized for r in downloads)
    assert all(r.authorized for r in fake.requests if r.path.startswith("/api/"))


async def test_health_makes_no_request(rig: Rig, fake: FakeComfyDeploy) -> None:
    engine = await rig.engine()
    health = await engine.health()
    assert health.ok and "no request made yet" in health.detail and fake.requests == []
    handle = await engine.submit(spec())
    health = await engine.health()
    assert health.ok and health.load == 1 and "last request ok" in health.detail
    await engine.cancel(handle)
    unconfigured = ComfyDeployEngine(fake.base_url, "", {}, webhook_secret=b"")
    health = await unconfigured.health()
    assert not health.ok and "no API key" in health.detail
    await unconfigured.aclose()
    with pytest.raises(ValueError):
        ComfyDeployEngine(fake.base_url, KEY, {}, webhook_base="http://x", webhook_secret=b"")

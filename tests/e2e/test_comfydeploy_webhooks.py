"""ComfyUI Deploy end to end: the fake service calls our real web route over HTTP, the job
finishes from the webhook (not from polling), and forged or malformed webhooks are refused."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import uvicorn

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.fake_comfydeploy import FakeComfyDeploy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def service() -> AsyncIterator[FakeComfyDeploy]:
    fake = FakeComfyDeploy(api_key="test-key")
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def served(
    make_settings: Callable[..., Settings], service: FakeComfyDeploy
) -> AsyncIterator[tuple[App, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(
        comfydeploy_url=service.base_url, comfydeploy_api_key="test-key",
        comfydeploy_deployments={"make": "dep-make"}, public_url=base,
        comfydeploy_poll_seconds=60,  # so only a webhook can finish a job quickly
    )
    assert settings.engine_name == "comfydeploy"
    app = build(settings)
    await app.start()
    server = uvicorn.Server(uvicorn.Config(create_app(app, manage_lifecycle=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield app, base
    finally:
        server.should_exit = True
        await task
        await app.stop()


async def test_a_job_finishes_through_the_webhook(
    served: tuple[App, str], service: FakeComfyDeploy
) -> None:
    app, _ = served
    user = await app.users.resolve(Identity("web", "alice"))
    job = await app.make_image.make(user, Request("make", {"prompt": "a fox", "seed": 1}))
    done = await app.jobs.wait(job.id, timeout=15)
    assert done.state == "succeeded", done.error
    assert service.webhooks  # the service called us …
    assert service.count("GET") <= len(service.webhooks) + 2  # … and we did not poll it
    queued = next(r for r in service.requests if r.path.endswith("/queue"))
    assert "dep-make" in str(queued.body)
    assert (await app.ledger.balance(user.id)).total == 1000 - done.quote


async def test_forged_and_malformed_webhooks_are_refused(served: tuple[App, str]) -> None:
    app, base = served
    route = f"{base}/api/v1/webhooks/comfydeploy"
    async with httpx.AsyncClient() as client:
        forged = await client.post(f"{route}/abc.{'0' * 32}", content=b'{"run_id":"x"}')
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "forbidden"  # the API's one error shape
        no_mac = await client.post(f"{route}/abc", content=b"{}")
        assert no_mac.status_code == 403
        engine = app.engine
        token = engine.webhook_url("job1").rsplit("/", 1)[1]  # type: ignore[attr-defined]
        malformed = await client.post(f"{route}/{token}", content=b"not json")
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == "invalid_input"
        huge = await client.post(f"{route}/{token}", content=b"x" * 1_100_000)
        assert huge.status_code == 413
        assert huge.json()["error"]["code"] == "too_large"


async def test_the_route_is_absent_without_comfydeploy(settings: Settings) -> None:
    async with build(settings) as app:
        transport = httpx.ASGITransport(app=create_app(app, manage_lifecycle=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.post("/api/v1/webhooks/comfydeploy/a.b", content=b"{}")
    assert answer.status_code == 404

"""Reference images and outpaints on ComfyUI (the fake server): the canny reference runs on
stock nodes with the user's image uploaded into it; a tool whose graph needs a node the server
lacks (pose: comfyui_controlnet_aux) is refused by that node's name, and nothing is charged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.scripted import png
from tests.unit.test_comfyui_engine import engine_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with FakeComfyUI() as server:
        yield server


@pytest.fixture
async def comfy_app(settings: Settings, fake: FakeComfyUI) -> AsyncIterator[App]:
    async with build(settings, engine=engine_for(fake.url)) as app:
        yield app


async def test_a_canny_reference_runs_and_a_missing_node_is_named_free(
    comfy_app: App, fake: FakeComfyUI
) -> None:
    app = comfy_app
    user = await app.users.resolve(Identity("test", "alice"))
    upload = await app.media.ingest(user.id, png(96, 64))
    before = (await app.ledger.balance(user.id)).total
    job = await app.make_image.make(user, Request("reference", {"prompt": "a castle",
                                                                "strength": 0.6},
                                                  {"image": upload.id}))
    done = await app.jobs.wait(job.id, timeout=20)
    assert done.state == "succeeded", done.error
    graph = fake.prompts[-1]["prompt"]
    assert graph["7"]["inputs"]["strength"] == 0.6 and graph["4"]["inputs"]["text"] == "a castle"
    assert graph["1"]["inputs"]["image"] != "input.png"  # the reference, uploaded
    assert (graph["8"]["inputs"]["width"], graph["8"]["inputs"]["height"]) == (96, 64)

    spent = (await app.ledger.balance(user.id)).total
    pose = await app.make_image.make(user, Request("reference-pose", {"prompt": "a dancer"},
                                                   {"image": upload.id}))
    refused = await app.jobs.wait(pose.id, timeout=20)
    assert refused.state == "failed"
    assert "lacks the node 'DWPreprocessor'" in (refused.error or "")
    assert "pose" in (refused.error or "") and "comfyui_controlnet_aux" in (refused.error or "")
    assert (await app.ledger.balance(user.id)).total == spent < before  # the pose was free

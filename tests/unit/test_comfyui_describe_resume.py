"""Describe on ComfyUI (the fake, with the Florence2 and ShowText custom nodes): the captions
come back as prompts — and still do when StationThis restarts in the middle of the run and
picks the job up again from the server's history (the run's handle records that it is a
describe run: the job spec is gone after a restart)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Identity
from stationthis.engines.comfyui import describe as comfy_describe
from stationthis.workflows import describe as describing
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.fake_comfyui_describe import with_describe_nodes
from tests.support.scripted import png
from tests.unit.test_comfyui_engine import engine_for

WANTED = ["a quiet harbour at dusk, caption", "a quiet harbour at dusk, detailed caption",
          "a quiet harbour at dusk, more detailed caption"]


async def _describe(app: App) -> str:
    alice = await app.users.resolve(Identity("test", "alice"))
    await app.ledger.grant(alice.id, 100, key="test:alice")
    photo = await app.media.ingest(alice.id, png(64, 48))
    job = await app.make_image.make(alice, Request("describe", images={"image": photo.id}))
    return job.id


async def test_describe_on_comfyui_gives_the_captions_as_prompts(settings: Settings) -> None:
    async with FakeComfyUI(object_info=with_describe_nodes()) as fake:
        async with build(settings, engine=engine_for(fake.url)) as app:
            done = await app.jobs.wait(await _describe(app), timeout=20)
            assert done.state == "succeeded", done.error
            assert await describing.prompts(app.media, done) == WANTED


async def test_a_describe_run_resumed_after_a_restart_still_reads_the_captions(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with FakeComfyUI(object_info=with_describe_nodes()) as fake:
        first = build(settings, engine=engine_for(fake.url))
        await first.start()
        fake.script(steps=10, step_delay=0.1)
        job_id = await _describe(first)
        for _ in range(400):
            if (await first.jobs.get(job_id)).state == "running":
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the job never started")
        assert (await first.jobs.get(job_id)).run_data == {"server": fake.url,
                                                           "kind": "describe"}
        await first.queue.stop(grace_seconds=0.01)  # StationThis dies; ComfyUI keeps going
        await first.engine.aclose()  # type: ignore[attr-defined]
        await first.db.dispose()

        async with build(settings, engine=engine_for(fake.url)) as second:
            done = await second.jobs.wait(job_id, timeout=30)
            assert done.state == "succeeded", done.error
            assert len(fake.prompts) == 1  # looked up, not run again
            assert await describing.prompts(second.media, done) == WANTED
            assert done.cost is not None and done.cost > 0


def test_a_run_of_texts_only_is_read_as_a_describe_run() -> None:
    """A handle from before the kind was recorded: the history's outputs tell."""
    texts = {"outputs": {"6": {"text": ["The photo shows a fox."]}}}
    images = {"outputs": {"9": {"images": [{"filename": "a.png"}]},
                          "6": {"text": ["a fox"]}}}
    assert comfy_describe.only_texts(texts)
    assert not comfy_describe.only_texts(images)
    assert not comfy_describe.only_texts({"outputs": {}})

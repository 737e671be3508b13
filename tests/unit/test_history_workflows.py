"""History: the last N jobs with everything they ran with, "get seed", and reproducibility
cards — checked to reproduce the very same pixels on the preview engine."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.errors import Conflict, InvalidInput, NotFound
from stationthis.core.jobs import Job
from stationthis.core.replies import WebReply
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.history import ReproCard
from stationthis.workflows.make_image import Request
from tests.support.scripted import Script, ScriptedEngine, png


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allowance={"interval_seconds": 4_000_000_000})


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("test", name))


async def run(app: App, account: Account, tool: str = "make", images: dict[str, str] | None = None,
              **options: object) -> Job:
    job = await app.make_image.make(account, Request(tool, dict(options), images or {}))
    return await app.jobs.wait(job.id, timeout=30)


async def pixels(app: App, media_id: str) -> np.ndarray:
    data = await app.media.read(await app.media.get(media_id))
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


async def test_recent_lists_the_last_jobs_with_everything_they_ran_with(
    app: App, engine: ScriptedEngine
) -> None:
    alice, bob = await user(app), await user(app, "bob")
    first = await run(app, alice, prompt="a fox", seed=5, steps=25)
    engine.script(Script(fail="CUDA out of memory"))
    failed = await run(app, alice, prompt="a whale")
    up = await run(app, alice, "upscale", {"image": first.outputs[0]}, scale=2)
    await run(app, bob, prompt="bob's")
    entries = await app.history.recent(alice, n=10)
    assert [e.job_id for e in entries] == [up.id, failed.id, first.id]  # newest first
    fox = entries[2]
    assert (fox.tool, fox.category, fox.engine, fox.state) == ("make", "txt2img", "scripted",
                                                               "succeeded")
    assert fox.tool_version == app.tools.get("make").version and fox.tool_version
    assert fox.params == first.params and fox.seed == 5 and fox.params["steps"] == 25
    assert fox.outputs == first.outputs and fox.cost == fox.quote == first.cost
    assert fox.created_at <= fox.started_at <= fox.finished_at  # type: ignore[operator]
    assert fox.duration is not None and fox.duration >= 0 and fox.waited is not None
    whale = entries[1]
    assert (whale.state, whale.error, whale.cost, whale.outputs) == (
        "failed", "CUDA out of memory", None, [])
    upscale = entries[0]
    assert upscale.seed is None and upscale.inputs == {"image": first.outputs[0]}
    assert [e.job_id for e in await app.history.recent(alice, n=2)] == [up.id, failed.id]
    assert [e.job_id for e in await app.history.recent(alice, tool="upscale")] == [up.id]
    assert (await app.history.entry(alice, first.id)).params == first.params
    with pytest.raises(InvalidInput, match="between 1 and 100"):
        await app.history.recent(alice, n=0)
    with pytest.raises(NotFound):
        await app.history.entry(bob, first.id)


async def test_get_seed_of_a_job_or_an_image(app: App) -> None:
    alice, bob = await user(app), await user(app, "bob")
    job = await run(app, alice, prompt="a fox", seed=1234)
    assert await app.history.get_seed(alice, job.id) == 1234
    assert await app.history.get_seed(alice, job.outputs[0]) == 1234
    up = await run(app, alice, "upscale", {"image": job.outputs[0]})
    with pytest.raises(InvalidInput, match="no seed"):
        await app.history.get_seed(alice, up.id)
    upload = await app.media.ingest(alice.id, png())
    with pytest.raises(InvalidInput, match="uploaded"):
        await app.history.get_seed(alice, upload.id)
    for other in (job.id, job.outputs[0], "nothing-like-this"):
        with pytest.raises(NotFound):
            await app.history.get_seed(bob, other)


async def test_each_image_of_a_batch_has_its_own_seed(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    batch = await run(app, alice, prompt="a lighthouse", seed=40, batch=2, width=128, height=128)
    second = batch.outputs[1]
    assert await app.history.get_seed(alice, batch.id) == 40
    assert await app.history.get_seed(alice, second) == 41
    alone = await run(app, alice, prompt="a lighthouse", seed=41, width=128, height=128)
    assert np.array_equal(await pixels(app, alone.outputs[0]), await pixels(app, second))


async def test_a_card_says_everything_needed_and_survives_json(app: App) -> None:
    alice = await user(app)
    upload = await app.media.ingest(alice.id, png(80, 64))
    job = await run(app, alice, "img2img", {"image": upload.id}, prompt="a castle", seed=9,
                    strength=0.6)
    card = await app.history.card(alice, job.outputs[0])
    assert (card.tool, card.engine, card.job_id, card.output_index, card.media_id) == (
        "img2img", "scripted", job.id, 0, job.outputs[0])
    assert card.tool_version == app.tools.get("img2img").version
    assert card.params == job.params and card.params["seed"] == 9
    assert card.inputs == {"image": upload.id}
    assert ReproCard.from_json(card.to_json()) == card
    text = card.to_text()
    for fragment in ("img2img", card.tool_version, "scripted", job.id, "seed:   9",
                     'prompt = "a castle"', "strength = 0.6", f"input image = image {upload.id}"):
        assert fragment in text, text  # type: ignore[operator]
    for bad in ("{}", "[1]", '{"stationthis_card": 1, "tool": "make"}', "not json",
                '{"stationthis_card": 1, "tool": "make", "engine": "x", "params": [],'
                ' "tool_version": null}'):
        with pytest.raises(InvalidInput, match="not a reproducibility card"):
            ReproCard.from_json(bad)
    with pytest.raises(InvalidInput, match="uploaded"):
        await app.history.card(alice, upload.id)
    with pytest.raises(NotFound):
        await app.history.card(await user(app, "bob"), job.outputs[0])


async def test_rerun_of_a_card_gives_identical_pixels(preview_app: App) -> None:
    app = preview_app
    alice = await user(app)
    job = await run(app, alice, prompt="a red fox in snow", width=192, height=128, batch=2)
    assert job.state == "succeeded", job.error
    card = await app.history.card(alice, job.outputs[1])
    assert card.output_index == 1 and card.params["seed"] == job.params["seed"]
    card = ReproCard.from_json(card.to_json())  # e.g. saved to a file and read back
    quote = await app.history.quote_rerun(alice, card)
    before = (await app.ledger.balance(alice.id)).total
    again = await app.history.rerun(alice, card, reply=WebReply())
    assert (again.origin, again.parent_id, again.reply) == ("rerun", job.id, WebReply())
    again = await app.jobs.wait(again.id, timeout=30)
    assert again.state == "succeeded" and again.params == job.params
    assert quote.points == again.quote == again.cost
    for index in (0, 1):
        assert np.array_equal(await pixels(app, job.outputs[index]),
                              await pixels(app, again.outputs[index]))
    assert (await app.ledger.balance(alice.id)).total == before - quote.points
    assert await app.ledger.verify(alice.id)


async def test_rerun_refuses_a_changed_tool_or_engine_unless_forced(app: App) -> None:
    alice, bob = await user(app), await user(app, "bob")
    job = await run(app, alice, prompt="a fox", seed=3)
    card = await app.history.card(alice, job.outputs[0])
    old_tool = dataclasses.replace(card, tool_version="0123456789ab")
    with pytest.raises(Conflict, match="changed"):
        await app.history.rerun(alice, old_tool)
    with pytest.raises(Conflict, match="comfyui engine"):
        await app.history.quote_rerun(alice, dataclasses.replace(card, engine="comfyui"))
    forced = await app.jobs.wait((await app.history.rerun(alice, old_tool, force=True)).id, 10)
    assert forced.state == "succeeded" and forced.params["seed"] == 3
    # A card shared with someone else runs for them (no lineage shown) ...
    theirs = await app.jobs.wait((await app.history.rerun(bob, card)).id, 10)
    assert theirs.owner_id == bob.id and theirs.parent_id is None and theirs.params == job.params
    # ... but never with someone else's input images.
    upload = await app.media.ingest(alice.id, png())
    img = await run(app, alice, "img2img", {"image": upload.id}, prompt="x")
    with pytest.raises(NotFound):
        await app.history.rerun(bob, await app.history.card(alice, img.outputs[0]))

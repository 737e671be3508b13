"""Commands, offers and starts: a command is planned, prepared and priced once, for whoever
pays (the requester or their group), and the job that starts is exactly the one offered.
Zoom out is one such command, run for real on the preview engine."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.engine import ImageInput, JobSpec
from stationthis.core.errors import EngineFailed, InvalidInput, NotFound
from stationthis.core.replies import OtherReply
from stationthis.core.users import Account, Identity
from stationthis.engines.preview import PreviewEngine
from stationthis.workflows.app import App
from stationthis.workflows.commands import (
    Make,
    Regenerate,
    RemoveBackground,
    Requester,
    Tweak,
    Upscale,
    Vary,
    ZoomOut,
)
from tests.support.scripted import png

NO_REFILL = {"interval_seconds": 4_000_000_000}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allowance=NO_REFILL)


async def people(app: App) -> tuple[Account, Account]:
    user = await app.users.resolve(Identity("telegram", "7"))
    group = await app.users.resolve(Identity("telegram", "-100"), "Studio", kind="group")
    return user, group


async def test_the_job_started_is_the_one_offered(app: App) -> None:
    """The random seed is drawn once: the price shown and the job run are the same request
    (before, the quote and the job each prepared the request and drew their own seed)."""
    alice, _ = await people(app)
    offer = await app.make_image.offer(Make(Requester(alice), {"prompt": "a fox", "seed": -1}))
    job = await app.make_image.start(offer, reply=OtherReply("test"))
    assert job.params == offer.quote.params and job.quote == offer.quote.points
    assert job.payer_id == alice.id and job.reply == OtherReply("test")
    assert offer.quote.tool == job.tool == await app.make_image.default_tool(alice)
    assert (await app.jobs.wait(job.id, timeout=10)).state == "succeeded"


async def test_the_group_pays_when_its_policy_says_so(app: App) -> None:
    alice, group = await people(app)
    await app.account.grant(group, 300, key="pool")
    await app.groups.set_payer_policy(None, group, "group")
    offer = await app.make_image.offer(Make(Requester(alice, group), {"prompt": "a fox"}))
    assert offer.payer.id == group.id and offer.paid_by_group
    assert offer.quote.available == 300
    job = await app.make_image.start(offer)
    await app.jobs.wait(job.id, timeout=10)
    assert (job.payer_id, job.group_id) == (group.id, group.id)
    assert (await app.ledger.balance(group.id)).total == 300 - offer.quote.points
    assert (await app.ledger.balance(alice.id)).total == 1000


async def test_commands_price_like_the_workflow_methods(app: App) -> None:
    alice, _ = await people(app)
    me = Requester(alice)
    parent = await app.make_image.offer(Make(me, {"prompt": "a red fox", "width": 768}))
    job = await app.jobs.wait((await app.make_image.start(parent)).id, timeout=10)
    media = job.outputs[0]
    pairs = [
        (Regenerate(me, job.id), app.again.quote_regenerate(alice, job.id)),
        (Vary(me, media), app.again.quote_vary(alice, media)),
        (Tweak(me, job.id, {"steps": 40}), app.again.quote_tweak(alice, job.id, steps=40)),
        (Upscale(me, media, 4), app.again.quote_upscale(alice, media, 4)),
        (RemoveBackground(me, media), app.again.quote_remove_background(alice, media)),
    ]
    for command, legacy in pairs:
        offer = await app.make_image.offer(command)
        quote = await legacy
        assert (offer.quote.tool, offer.quote.points) == (quote.tool, quote.points), command
    started = await app.make_image.start(await app.make_image.offer(Regenerate(me, job.id)))
    assert (started.origin, started.parent_id) == ("regenerate", job.id)


async def test_zoom_out_on_the_preview_engine_pads_the_image(preview_app: App) -> None:
    app = preview_app
    alice, _ = await people(app)
    made = await app.make_image.offer(Make(Requester(alice), {"prompt": "a blue lake at night",
                                                               "width": 256, "height": 192}))
    parent = await app.jobs.wait((await app.make_image.start(made)).id, timeout=20)
    source = await app.media.get(parent.outputs[0])
    offer = await app.make_image.offer(ZoomOut(Requester(alice), source.id))
    tool = app.tools.get(offer.quote.tool)
    assert tool.category == "outpaint"
    assert offer.quote.params["prompt"] == "a blue lake at night"  # carried from the image
    assert (offer.quote.params["width"], offer.quote.params["height"]) == (384, 288)
    assert offer.quote.points == tool.cost.price(offer.quote.params)
    job = await app.jobs.wait((await app.make_image.start(offer)).id, timeout=20)
    assert job.state == "succeeded", job.error
    assert (job.origin, job.parent_id, job.cost) == ("zoom_out", parent.id, offer.quote.points)
    out = await app.media.get(job.outputs[0])
    assert (out.width, out.height) == (384, 288)
    before = np.asarray(Image.open(io.BytesIO(await app.media.read(source))).convert("RGB"))
    after = Image.open(io.BytesIO(await app.media.read(out)))
    pixels = np.asarray(after.convert("RGB"))
    assert (pixels[48:240, 64:320] == before).all()  # the image itself, untouched
    border = np.concatenate([pixels[:48].reshape(-1, 3), pixels[:, :64].reshape(-1, 3)])
    assert border.std() > 1.0  # painted in, not a flat colour


async def test_the_preview_outpaint_says_what_it_is_and_needs_a_border() -> None:
    engine = PreviewEngine()
    image = ImageInput(png(40, 30))
    job = JobSpec("o1", "outpaint", "outpaint", {"left": 8, "right": 8, "top": 0,
                                                 "bottom": 16, "prompt": "sea"},
                  images={"image": image})
    out = await engine.result(await engine.submit(job))
    png_file = Image.open(io.BytesIO(out[0].data))
    assert png_file.size == (56, 46)
    assert "not an AI outpaint" in png_file.text["stationthis:note"]  # type: ignore[attr-defined]
    flat = JobSpec("o2", "outpaint", "outpaint", {}, images={"image": image})
    with pytest.raises(EngineFailed, match="border"):
        await engine.result(await engine.submit(flat))


async def test_zoom_out_of_an_upload_and_refusals(preview_app: App) -> None:
    app = preview_app
    alice, _ = await people(app)
    bob = await app.users.resolve(Identity("telegram", "8"))
    upload = await app.media.ingest(alice.id, png(100, 60))
    offer = await app.make_image.offer(ZoomOut(Requester(alice), upload.id))
    assert (offer.quote.params["width"], offer.quote.params["height"]) == (148, 92)
    assert offer.plan.parent_id is None
    with pytest.raises(NotFound):
        await app.make_image.offer(ZoomOut(Requester(bob), upload.id))
    with pytest.raises(InvalidInput, match="zoom out"):
        await app.make_image.offer(ZoomOut(Requester(alice), upload.id, factor=1.0))

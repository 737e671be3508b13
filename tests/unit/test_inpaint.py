"""Inpaint ("vary region"): the preview engine repaints only what the mask marks, and a bad
mask (another size, nothing marked, not an image) is refused before anything is held."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.engine import ImageInput, JobSpec
from stationthis.core.errors import EngineFailed, InvalidImage, InvalidInput
from stationthis.core.users import Account, Identity
from stationthis.engines.preview import PreviewEngine
from stationthis.workflows.app import App
from stationthis.workflows.commands import Inpaint, Make, Requester
from stationthis.workflows.make_image import Request
from tests.support.scripted import png

NO_REFILL = {"interval_seconds": 4_000_000_000}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allowance=NO_REFILL)


def mask_png(width: int, height: int, box: tuple[int, int, int, int] | None,
             mode: str = "L") -> bytes:
    """Black with a white ``box`` (left, top, right, bottom); None: all black."""
    img = Image.new(mode, (width, height), 0)
    if box is not None:
        img.paste(255 if mode == "L" else (255, 255, 255), box)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def striped(width: int, height: int) -> bytes:
    """An image with detail everywhere, so a changed pixel shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    arr = np.stack([(xs * 7) % 256, (ys * 5) % 256, ((xs + ys) * 3) % 256], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG")
    return buf.getvalue()


# ----- the preview engine -------------------------------------------------------------------

async def test_the_preview_inpaint_changes_only_the_masked_region() -> None:
    engine = PreviewEngine()
    image = striped(96, 64)
    box = (20, 10, 70, 50)
    job = JobSpec("i1", "inpaint", "inpaint", {"prompt": "a red fox", "seed": 5},
                  images={"image": ImageInput(image), "mask": ImageInput(mask_png(96, 64, box))})
    out = await engine.result(await engine.submit(job))
    before, after = pixels(image), pixels(out[0].data)
    inside = np.zeros(before.shape[:2], bool)
    inside[box[1]:box[3], box[0]:box[2]] = True
    assert (after[~inside] == before[~inside]).all()  # outside the mask: bit for bit
    changed = (after[inside] != before[inside]).any(axis=-1)
    assert changed.mean() > 0.95  # the whole marked region was repainted
    # feathered: the border of the region changes less than its middle
    diff = np.abs(after.astype(int) - before.astype(int)).sum(-1)
    assert diff[box[1]:box[3], box[0]].mean() < diff[30, 40:50].mean()
    note = Image.open(io.BytesIO(out[0].data)).text["stationthis:note"]  # type: ignore[attr-defined]
    assert "not an AI inpaint" in note


async def test_the_preview_inpaint_refuses_a_mask_of_another_size_or_an_empty_one() -> None:
    engine = PreviewEngine()
    image = ImageInput(png(40, 30))
    wrong = JobSpec("i2", "inpaint", "inpaint", {"prompt": "sea"}, images={
        "image": image, "mask": ImageInput(mask_png(30, 40, (0, 0, 10, 10)))})
    with pytest.raises(EngineFailed, match="the mask is 30×40 but the image is 40×30"):
        await engine.result(await engine.submit(wrong))
    empty = JobSpec("i3", "inpaint", "inpaint", {"prompt": "sea"}, images={
        "image": image, "mask": ImageInput(mask_png(40, 30, None))})
    with pytest.raises(EngineFailed, match="empty"):
        await engine.result(await engine.submit(empty))


# ----- the workflow: priced first, refused for free ------------------------------------------

async def people(app: App) -> Account:
    return await app.users.resolve(Identity("telegram", "7"))


async def test_inpaint_of_an_output_is_priced_first_and_keeps_the_rest(preview_app: App) -> None:
    app = preview_app
    alice = await people(app)
    made = await app.make_image.offer(Make(Requester(alice), {"prompt": "a blue lake",
                                                               "width": 256, "height": 192}))
    parent = await app.jobs.wait((await app.make_image.start(made)).id, timeout=20)
    source = await app.media.get(parent.outputs[0])
    mask = await app.media.ingest(alice.id, mask_png(256, 192, (64, 48, 192, 144)))
    offer = await app.make_image.offer(Inpaint(Requester(alice), source.id, mask.id,
                                               "a wooden boat", {"steps": 30}))
    tool = app.tools.get(offer.quote.tool)
    assert tool.category == "inpaint"
    assert (offer.quote.params["width"], offer.quote.params["height"]) == (256, 192)
    assert offer.quote.params["prompt"] == "a wooden boat"
    assert offer.quote.points == tool.cost.price(offer.quote.params)
    job = await app.jobs.wait((await app.make_image.start(offer)).id, timeout=20)
    assert job.state == "succeeded", job.error
    assert (job.origin, job.parent_id, job.cost) == ("inpaint", parent.id, offer.quote.points)
    assert job.inputs == {"image": source.id, "mask": mask.id}
    before = pixels(await app.media.read(source))
    after = pixels(await app.media.read(await app.media.get(job.outputs[0])))
    outside = np.ones(before.shape[:2], bool)
    outside[48:144, 64:192] = False
    assert (after[outside] == before[outside]).all()
    assert (after[~outside] != before[~outside]).any()


async def test_a_bad_mask_is_refused_before_anything_is_held(preview_app: App) -> None:
    app = preview_app
    alice = await people(app)
    me = Requester(alice)
    image = await app.media.ingest(alice.id, png(120, 80))
    other_size = await app.media.ingest(alice.id, mask_png(80, 120, (0, 0, 40, 40)))
    black = await app.media.ingest(alice.id, mask_png(120, 80, None))
    balance = (await app.ledger.balance(alice.id)).total
    with pytest.raises(InvalidInput, match="the mask is 80×120 but the image is 120×80"):
        await app.make_image.offer(Inpaint(me, image.id, other_size.id, "a hat"))
    with pytest.raises(InvalidInput, match="empty"):
        await app.make_image.offer(Inpaint(me, image.id, black.id, "a hat"))
    with pytest.raises(InvalidInput, match="what the painted region should show"):
        await app.make_image.offer(Inpaint(me, image.id, black.id, "  "))
    # the jobs API's road (a tool and two image inputs) gets the same refusals
    with pytest.raises(InvalidInput, match="empty") as refused:
        await app.make_image.make(alice, Request("inpaint", {"prompt": "a hat"},
                                                 {"image": image.id, "mask": black.id}))
    assert refused.value.details.get("input") == "mask"
    with pytest.raises(InvalidInput, match="needs a mask"):
        await app.make_image.make(alice, Request("inpaint", {"prompt": "a hat"},
                                                 {"image": image.id}))
    with pytest.raises(InvalidImage):  # a corrupt mask file never becomes a media item
        await app.media.ingest(alice.id, mask_png(120, 80, (0, 0, 5, 5))[:60])
    assert (await app.ledger.balance(alice.id)).total == balance
    assert await app.jobs.list_for(alice.id, limit=10) == []


async def test_a_mask_painted_on_a_transparent_layer_counts_its_strokes(preview_app: App) -> None:
    """Transparent pixels are black whatever their colour; opaque white strokes repaint."""
    app = preview_app
    alice = await people(app)
    layer = Image.new("RGBA", (64, 64), (255, 255, 255, 0))  # white, but all transparent
    buf = io.BytesIO()
    layer.save(buf, "PNG")
    clear = await app.media.ingest(alice.id, buf.getvalue())
    image = await app.media.ingest(alice.id, png(64, 64))
    with pytest.raises(InvalidInput, match="empty"):
        await app.make_image.offer(Inpaint(Requester(alice), image.id, clear.id, "a hat"))
    layer.paste((255, 255, 255, 255), (10, 10, 30, 30))
    buf = io.BytesIO()
    layer.save(buf, "PNG")
    stroke = await app.media.ingest(alice.id, buf.getvalue())
    offer = await app.make_image.offer(Inpaint(Requester(alice), image.id, stroke.id, "a hat"))
    assert offer.inputs["mask"] == stroke.id

"""The whole path with the real preview engine: request → job → engine → stored PNG → ledger."""

from __future__ import annotations

import io

from PIL import Image

from stationthis.core.users import Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request


async def test_make_upscale_and_remove_background_with_the_preview_engine(
    preview_app: App,
) -> None:
    app = preview_app
    alice = await app.users.resolve(Identity("web", "alice"))
    job = await app.make_image.make(alice, Request("make", {"prompt": "a red fox", "seed": 3}))
    done = await app.jobs.wait(job.id, timeout=30)
    assert done.state == "succeeded", done.error
    item = await app.media.get(done.outputs[0], owner_id=alice.id)
    png = await app.media.read(item)
    image = Image.open(io.BytesIO(png))
    assert image.size == (512, 512)
    assert image.text["stationthis:engine"] == "preview"
    assert image.text["stationthis:seed"] == "3"
    assert item.meta["engine_version"] == "2"  # which version of the engine painted it
    r, g, b = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert r > g and r > b  # "a red fox" is visibly red

    up = await app.make_image.make(alice, Request("upscale", {"scale": 2},
                                                  images={"image": item.id}))
    up_done = await app.jobs.wait(up.id, timeout=30)
    assert up_done.state == "succeeded", up_done.error
    big = await app.media.get(up_done.outputs[0], owner_id=alice.id)
    assert (big.width, big.height) == (1024, 1024)

    cut = await app.make_image.make(alice, Request("rmbg", images={"image": item.id}))
    cut_done = await app.jobs.wait(cut.id, timeout=30)
    assert cut_done.state == "succeeded", cut_done.error
    cut_png = Image.open(io.BytesIO(await app.media.read(
        await app.media.get(cut_done.outputs[0]))))
    assert cut_png.mode == "RGBA"

    thumb = Image.open(io.BytesIO(await app.media.thumbnail(item)))
    assert max(thumb.size) <= app.settings.thumbnail_size
    spent = done.cost + up_done.cost + cut_done.cost  # type: ignore[operator]
    assert (await app.ledger.balance(alice.id)).total == 1000 - spent
    assert await app.ledger.verify(alice.id)

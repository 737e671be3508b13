"""Reference images (ControlNet): the tools of category ``reference`` — canny from stock nodes,
pose and depth needing custom nodes, a style reference — and the preview engine's honest
procedural equivalent: the reference's edges guide the picture, and the PNG says what it is."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from stationthis.config import Settings
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Identity
from stationthis.engines.preview.reference import guided
from stationthis.workflows.app import App
from stationthis.workflows.commands import Make, Requester


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(allowance={"interval_seconds": 4_000_000_000})


def square(size: int = 96) -> Image.Image:
    img = Image.new("RGB", (size, size), (0, 0, 0))
    ImageDraw.Draw(img).rectangle((24, 24, 71, 71), fill=(255, 255, 255))
    return img


def as_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_the_canny_edges_of_the_reference_guide_the_picture() -> None:
    free = np.asarray(guided(square(), "canny", "a green meadow", 5, 0.0, 0.4, 0.8), float)
    led = np.asarray(guided(square(), "canny", "a green meadow", 5, 1.0, 0.4, 0.8), float)
    changed = np.abs(led - free).sum(axis=2) > 10
    assert changed[22:27, 30:66].any() and changed[30:66, 69:74].any()  # the square's outline
    assert not changed[40:56, 40:56].any() and not changed[:10, :10].any()  # nothing else
    style = np.asarray(guided(Image.new("RGB", (64, 64), (200, 20, 20)), "style",
                              "a green meadow", 5, 1.0, 0.4, 0.8), float)
    assert style[..., 0].mean() > style[..., 1].mean() + 60  # the reference's red


def test_every_reference_tool_is_in_the_category_and_names_what_it_needs(app: App) -> None:
    tools = {t.name: t for t in app.tools.by_category("reference")}
    assert set(tools) == {"reference", "reference-pose", "reference-depth", "reference-style"}
    canny = {n["class_type"] for n in tools["reference"].graph.values()}
    assert {"Canny", "ControlNetLoader", "ControlNetApplyAdvanced"} <= canny
    assert tools["reference-pose"].meta["custom_nodes"] == {
        "DWPreprocessor": "comfyui_controlnet_aux"}
    style = {n["class_type"] for n in tools["reference-style"].graph.values()}
    assert {"CLIPVisionEncode", "StyleModelApply"} <= style


async def test_a_reference_from_an_upload_or_an_earlier_output(preview_app: App) -> None:
    app = preview_app
    alice = await app.users.resolve(Identity("telegram", "31"))
    bob = await app.users.resolve(Identity("telegram", "32"))
    upload = await app.media.ingest(alice.id, as_png(square(128)))
    offer = await app.make_image.offer(Make(Requester(alice), {"prompt": "a stone tower"},
                                            {"image": upload.id}, tool="reference"))
    assert (offer.quote.params["width"], offer.quote.params["height"]) == (128, 128)
    assert offer.quote.points > 0
    job = await app.jobs.wait((await app.make_image.start(offer)).id, timeout=30)
    assert job.state == "succeeded", job.error
    out = await app.media.get(job.outputs[0])
    with Image.open(io.BytesIO(await app.media.read(out))) as result:
        assert result.size == (128, 128)
        assert "not a ControlNet" in result.text["stationthis:note"]  # type: ignore[attr-defined]
    # an earlier output is a reference too, in another mode
    again = await app.make_image.offer(Make(Requester(alice), {"prompt": "a tower", "width": 96,
                                                               "height": 96},
                                            {"image": out.id}, tool="reference-depth"))
    depth = await app.jobs.wait((await app.make_image.start(again)).id, timeout=30)
    assert depth.state == "succeeded", depth.error
    # refused, free: someone else's image, no prompt, no image
    with pytest.raises(NotFound):
        await app.make_image.offer(Make(Requester(bob), {"prompt": "mine"},
                                        {"image": upload.id}, tool="reference"))
    with pytest.raises(InvalidInput, match="prompt"):
        await app.make_image.offer(Make(Requester(alice), {}, {"image": upload.id},
                                        tool="reference"))
    with pytest.raises(InvalidInput, match="input image"):
        await app.make_image.offer(Make(Requester(alice), {"prompt": "x"}, tool="reference"))

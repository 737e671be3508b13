"""What the preview engine hands back at the sizes people ask for: valid, labelled PNGs that
say which engine version painted them, the same pixels for the same prompt and seed, and the
prompt's colours, at 512x512 and at 1024x1024 (composed smaller and resampled up)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from stationthis.core.engine import Artifact, ImageInput, JobSpec
from stationthis.engines.preview import PreviewEngine, imageio
from stationthis.engines.preview.imageio import ENGINE_VERSION, write_png
from stationthis.engines.preview.palette import analyse
from stationthis.engines.preview.render import picture

SIZES = [512, 1024]


async def make(engine: PreviewEngine, job: JobSpec) -> Artifact:
    handle = await engine.submit(job)
    [e async for e in engine.events(handle)]
    return (await engine.result(handle))[0]


def txt2img(job_id: str, prompt: str, size: int, seed: int = 1) -> JobSpec:
    params = {"prompt": prompt, "seed": seed, "width": size, "height": size}
    return JobSpec(job_id, "make", "txt2img", params)


def opened(data: bytes) -> PngImagePlugin.PngImageFile:
    """The PNG, checked: signature, chunk CRCs and the whole pixel stream decode."""
    Image.open(io.BytesIO(data)).verify()  # chunk structure and CRCs
    img = Image.open(io.BytesIO(data))
    assert isinstance(img, PngImagePlugin.PngImageFile)
    img.load()  # the compressed pixel data decodes completely
    return img


@pytest.mark.parametrize("size", SIZES)
async def test_outputs_are_valid_labelled_pngs_that_name_the_engine_version(size: int) -> None:
    art = await make(PreviewEngine(), txt2img("v", "a red fox", size, seed=5))
    img = opened(art.data)
    assert img.size == (size, size) and img.mode == "RGB"
    assert img.text["stationthis:engine"] == "preview"
    assert img.text["stationthis:engine_version"] == ENGINE_VERSION == "2"
    assert "not an AI model" in img.text["stationthis:note"]
    assert img.text["stationthis:prompt"] == "a red fox"
    assert art.meta["engine_version"] == "2"  # stored with the image's metadata too
    # The "PREVIEW" label sits in the bottom-right corner; elsewhere it is the plain picture.
    plain = np.asarray(picture(analyse("a red fox", 5), size, size), dtype=np.float32)
    changed = np.abs(np.asarray(img, dtype=np.float32) - plain).max(axis=2) > 2
    ys, xs = np.nonzero(changed)
    assert ys.size > 30 * (size // 512) ** 2  # visible, and it grows with the image
    assert ys.min() > size * 0.9 and xs.min() > size * 0.7
    assert changed.mean() < 0.01


async def test_the_engine_reports_its_version() -> None:
    engine = PreviewEngine()
    assert engine.version == ENGINE_VERSION == "2"
    health = await engine.health()
    assert f"v{ENGINE_VERSION}" in health.detail and "no AI model" in health.detail


@pytest.mark.parametrize("size", SIZES)
async def test_same_prompt_and_seed_give_the_same_pixels_on_any_engine(size: int) -> None:
    a = await make(PreviewEngine(), txt2img("a", "snowy mountains at dawn", size, seed=9))
    b = await make(PreviewEngine(), txt2img("b", "snowy mountains at dawn", size, seed=9))
    assert a.data == b.data
    other = await make(PreviewEngine(), txt2img("c", "snowy mountains at dawn", size, seed=10))
    diff = np.abs(np.asarray(opened(a.data), np.float32) - np.asarray(opened(other.data)))
    assert float(diff.mean()) > 8


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("prompt", "channel"), [("a red fox", 0), ("a green forest", 1),
                                                 ("a blue lake", 2)])
async def test_the_prompt_colours_the_picture_at_any_size(
    size: int, prompt: str, channel: int
) -> None:
    art = await make(PreviewEngine(), txt2img("c", prompt, size, seed=3))
    mean = np.asarray(opened(art.data), np.float32).mean(axis=(0, 1))
    assert mean[channel] > max(mean[c] for c in range(3) if c != channel) + 15, mean


async def test_large_pictures_match_small_ones_of_the_same_prompt() -> None:
    """A 1024 picture is the 512 one drawn larger, not a different composition."""
    engine = PreviewEngine()
    big = opened((await make(engine, txt2img("l", "a lighthouse on a cliff", 1024))).data)
    small = opened((await make(engine, txt2img("s", "a lighthouse on a cliff", 512))).data)
    shrunk = np.asarray(big.resize((64, 64), Image.Resampling.BOX), np.float32)
    assert float(np.abs(shrunk - np.asarray(small.resize((64, 64), Image.Resampling.BOX),
                                            np.float32)).mean()) < 4


async def test_transform_outputs_name_the_engine_version_too() -> None:
    src = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(src, format="PNG")
    job = JobSpec("up", "upscale", "upscale", {"scale": 2}, images={"image": ImageInput(
        src.getvalue())})
    art = await make(PreviewEngine(), job)
    img = opened(art.data)
    assert img.size == (80, 60) and img.text["stationthis:engine_version"] == ENGINE_VERSION
    assert art.meta["engine_version"] == ENGINE_VERSION


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_the_png_writer_round_trips_pixels_and_text(mode: str) -> None:
    rng = np.random.default_rng(1)
    bands = len(mode)
    data = rng.integers(0, 256, (37, 53, bands), dtype=np.uint8)
    data[10:20] = data[9]  # some repeated rows, as in smooth pictures
    img = Image.fromarray(data[..., 0] if bands == 1 else data, mode=mode)
    text = {"stationthis:prompt": "狐狸 in a red forest ✨", "Software": "caf\u00e9"}
    out = opened(write_png(img, text))
    assert out.mode == mode and out.size == (53, 37)
    assert np.array_equal(np.asarray(out), np.asarray(img))
    assert out.text == text


def test_other_modes_still_encode() -> None:
    img = Image.new("P", (10, 10), 3)
    out = opened(write_png(img, {"a": "b"}))
    assert out.size == (10, 10) and out.text == {"a": "b"}


@pytest.mark.parametrize("which", ["zlib", "isal"])
def test_both_deflaters_write_the_same_pixels(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if which == "zlib":
        monkeypatch.setattr(imageio, "_ISAL", None)
    elif imageio.deflater() != "isal":
        pytest.skip("the optional isal package is not installed")
    assert imageio.deflater() == which
    img = picture(analyse("neon city in the rain", 4), 300, 200)
    out = opened(write_png(img, {"k": "v"}))
    assert np.array_equal(np.asarray(out), np.asarray(img)) and out.text == {"k": "v"}

"""The preview engine, judged by what a user would notice in its outputs and events."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from stationthis.core.engine import (
    Artifact,
    Engine,
    EngineEvent,
    ImageInput,
    JobSpec,
    RunHandle,
)
from stationthis.core.errors import EngineFailed, RunLost
from stationthis.engines.preview import PreviewEngine
from stationthis.engines.preview.palette import analyse
from stationthis.engines.preview.render import picture


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    arr: np.ndarray = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32)
    return arr


def png_text(data: bytes) -> dict[str, str]:
    img = Image.open(io.BytesIO(data))
    assert isinstance(img, PngImagePlugin.PngImageFile)
    return dict(img.text)


def txt2img(job_id: str, prompt: str, seed: int = 1, **params: object) -> JobSpec:
    return JobSpec(job_id, "make", "txt2img", {"prompt": prompt, "seed": seed, **params})


def with_image(job_id: str, category: str, image: bytes, **params: object) -> JobSpec:
    return JobSpec(job_id, category, category, dict(params), images={"image": ImageInput(image)})


async def run(engine: PreviewEngine, job: JobSpec) -> tuple[list[EngineEvent], list[Artifact]]:
    handle = await engine.submit(job)
    events = [e async for e in engine.events(handle)]
    return events, await engine.result(handle)


async def image_of(engine: PreviewEngine, job: JobSpec) -> np.ndarray:
    return pixels((await run(engine, job))[1][0].data)


@pytest.fixture
async def engine() -> AsyncIterator[PreviewEngine]:
    eng = PreviewEngine()
    yield eng
    await eng.aclose()


def smooth_photo(h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth, photo-like test image (gradients plus a soft highlight)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 60 + 150 * x / w
    g = 40 + 120 * y / h
    b = 120 + 100 * np.exp(-(((x - w / 2) ** 2 + (y - h / 2) ** 2) / (w * 6)))
    out: np.ndarray = np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)
    return out


# --- the engine port ------------------------------------------------------------------


async def test_it_is_an_engine_and_reports_itself_honestly(engine: PreviewEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.name == "preview"
    health = await engine.health()
    assert health.ok and health.name == "preview" and health.load == 0
    assert "no AI model" in health.detail


async def test_events_start_progress_preview_and_finish(engine: PreviewEngine) -> None:
    events, artifacts = await run(engine, txt2img("ev", "a quiet lake", steps=30))
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done"
    progress = [e for e in events if e.kind == "progress"]
    assert len(progress) >= 5
    assert all(e.total == 30 for e in progress)
    steps = [e.step or 0 for e in progress]
    assert steps == sorted(steps) and steps[-1] == 30
    previews = [e for e in events if e.kind == "preview"]
    assert previews and previews[0].preview is not None
    assert previews[0].step == 15 and previews[0].total == 30  # halfway through the image
    thumb = Image.open(io.BytesIO(previews[0].preview))
    assert thumb.format == "JPEG" and max(thumb.size) <= 256
    assert len(artifacts) == 1 and artifacts[0].media_type == "image/png"
    assert artifacts[0].name == "ev_0.png"


async def test_every_reader_sees_the_whole_history(engine: PreviewEngine) -> None:
    handle = await engine.submit(txt2img("many", "a forest"))

    async def read() -> list[str]:
        return [e.kind async for e in engine.events(handle)]

    first, second = await asyncio.gather(read(), read())
    late = await read()  # after the run finished
    assert first == second == late
    assert late[0] == "started" and late[-1] == "done"


async def test_submitting_the_same_job_twice_runs_it_once() -> None:
    engine = PreviewEngine(step_delay=0.01)
    job = txt2img("same", "a lighthouse", steps=10)
    first = await engine.submit(job)
    assert (await engine.health()).load == 1
    second = await engine.submit(job)
    assert first == second
    assert (await engine.health()).load == 1
    kinds = [e.kind async for e in engine.events(second)]
    assert kinds.count("started") == 1 and kinds.count("done") == 1
    assert (await engine.result(first))[0].data == (await engine.result(second))[0].data
    assert (await engine.health()).load == 0


async def test_a_restarted_engine_does_not_know_old_runs(engine: PreviewEngine) -> None:
    handle = await engine.submit(txt2img("old", "a bridge"))
    await engine.result(handle)
    restarted = PreviewEngine()
    with pytest.raises(RunLost):
        await restarted.result(handle)
    with pytest.raises(RunLost):
        [e async for e in restarted.events(handle)]
    with pytest.raises(RunLost):
        await engine.result(RunHandle("preview", "old", "preview-not-a-run"))


async def test_old_finished_runs_are_forgotten_beyond_the_limit() -> None:
    engine = PreviewEngine(keep_finished=2)
    handles = []
    for i in range(3):  # one after another, so they finish in order
        handles.append(await engine.submit(txt2img(f"k{i}", "a cat", width=32, height=32)))
        await engine.result(handles[-1])
    with pytest.raises(RunLost):
        await engine.result(handles[0])
    assert len(await engine.result(handles[2])) == 1


async def test_the_event_loop_stays_responsive_while_rendering(engine: PreviewEngine) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    await run(engine, txt2img("big", "snowy mountains", width=2048, height=2048))
    elapsed = time.perf_counter() - start
    task.cancel()
    # The loop kept ticking during the render (not blocked for the whole run).
    assert ticks >= max(3, int(elapsed / 0.005 * 0.2))


# --- txt2img --------------------------------------------------------------------------


async def test_same_prompt_seed_and_size_give_identical_pngs() -> None:
    a = (await run(PreviewEngine(), txt2img("a", "a red fox in the snow", seed=42)))[1][0]
    b = (await run(PreviewEngine(), txt2img("b", "a red fox in the snow", seed=42)))[1][0]
    assert a.data == b.data


async def test_different_prompts_look_clearly_different(engine: PreviewEngine) -> None:
    fox = await image_of(engine, txt2img("p1", "a red fox", seed=7))
    sea = await image_of(engine, txt2img("p2", "blue ocean at night", seed=7))
    mean_distance = float(np.linalg.norm(fox.mean(axis=(0, 1)) - sea.mean(axis=(0, 1))))
    assert mean_distance > 60
    hist = [np.histogram(img[..., 0], bins=16, range=(0, 256))[0] / img[..., 0].size
            for img in (fox, sea)]
    assert float(np.abs(hist[0] - hist[1]).sum()) > 0.8  # total variation, max 2


@pytest.mark.parametrize(
    ("prompt", "channel"),
    [("a red fox", 0), ("a green forest", 1), ("a blue lake", 2), ("deep blue ocean", 2)],
)
async def test_colour_words_drive_the_palette(
    engine: PreviewEngine, prompt: str, channel: int
) -> None:
    mean = (await image_of(engine, txt2img("c", prompt, seed=3))).mean(axis=(0, 1))
    others = [mean[c] for c in range(3) if c != channel]
    assert mean[channel] > max(others) + 15, (prompt, mean)


async def test_colours_in_the_negative_prompt_are_left_out(engine: PreviewEngine) -> None:
    red = (await image_of(engine, txt2img("n1", "a red and blue kite", seed=4))).mean((0, 1))
    blue = await image_of(engine, txt2img("n2", "a red and blue kite", seed=4, negative="red"))
    assert blue.mean((0, 1))[0] < red[0] - 20


async def test_seeds_up_to_the_64_bit_maximum_are_accepted(engine: PreviewEngine) -> None:
    _, out = await run(engine, txt2img("max", "x", seed=2**64 - 1, batch=2))
    assert png_text(out[1].data)["stationthis:seed"] == "0"  # wraps like a 64-bit seed


async def test_different_seeds_give_different_images(engine: PreviewEngine) -> None:
    one = await image_of(engine, txt2img("s1", "a castle on a hill", seed=1))
    two = await image_of(engine, txt2img("s2", "a castle on a hill", seed=2))
    assert float(np.abs(one - two).mean()) > 8


async def test_a_batch_gives_distinct_images_with_consecutive_seeds(
    engine: PreviewEngine,
) -> None:
    _, batch = await run(engine, txt2img("b3", "a windmill", seed=100, batch=3))
    assert [a.name for a in batch] == ["b3_0.png", "b3_1.png", "b3_2.png"]
    assert [a.meta["seed"] for a in batch] == [100, 101, 102]
    assert [png_text(a.data)["stationthis:seed"] for a in batch] == [
        "100", "101", "102"
    ]
    assert len({a.data for a in batch}) == 3
    _, single = await run(engine, txt2img("b1", "a windmill", seed=101))
    assert single[0].data == batch[1].data


@pytest.mark.parametrize(("width", "height"), [(320, 200), (333, 177), (64, 640)])
async def test_width_and_height_are_respected(
    engine: PreviewEngine, width: int, height: int
) -> None:
    _, out = await run(engine, txt2img("wh", "a field", width=width, height=height))
    assert Image.open(io.BytesIO(out[0].data)).size == (width, height)


async def test_pngs_say_they_come_from_the_preview_engine(engine: PreviewEngine) -> None:
    _, out = await run(engine, txt2img("meta", "a red fox", seed=5))
    img = Image.open(io.BytesIO(out[0].data))
    text = png_text(out[0].data)
    assert text["stationthis:engine"] == "preview"
    assert "not an AI model" in text["stationthis:note"]
    assert text["stationthis:prompt"] == "a red fox"
    assert text["stationthis:seed"] == "5"
    assert text["stationthis:tool"] == "make"
    # A small "PREVIEW" label in the bottom-right corner; the rest is the plain render.
    raw = np.asarray(picture(analyse("a red fox", 5), 512, 512), dtype=np.float32)
    changed = np.abs(np.asarray(img.convert("RGB"), dtype=np.float32) - raw).max(axis=2) > 2
    ys, xs = np.nonzero(changed)
    assert ys.size > 30  # the label is visible
    assert ys.min() > 512 * 0.9 and xs.min() > 512 * 0.7  # and only in the corner
    assert changed.mean() < 0.01


async def test_unicode_prompts_are_recorded(engine: PreviewEngine) -> None:
    _, out = await run(engine, txt2img("uni", "狐狸 in a red forest ✨"))
    assert png_text(out[0].data)["stationthis:prompt"] == (
        "狐狸 in a red forest ✨"
    )


# --- img2img, upscale, rmbg -------------------------------------------------------------


async def test_img2img_strength_moves_from_the_input_to_the_prompt(
    engine: PreviewEngine,
) -> None:
    source = smooth_photo(128, 128)
    data = png_bytes(source)
    prompt = await image_of(engine, txt2img("ref", "golden sunset", seed=9, width=128,
                                            height=128))
    outs = {}
    for s in (0.0, 0.3, 0.6, 1.0):
        job = with_image(f"i{s}", "img2img", data, prompt="golden sunset", seed=9, strength=s)
        outs[s] = await image_of(engine, job)
    body = (slice(0, 110), slice(None))  # leave out the label's corner rows
    to_input = {s: float(np.abs(o[body] - source[body]).mean()) for s, o in outs.items()}
    to_prompt = {s: float(np.abs(o[body] - prompt[body]).mean()) for s, o in outs.items()}
    assert to_input[0.0] < 1.0  # strength 0 leaves the look unchanged
    assert to_input[0.0] < to_input[0.3] < to_input[0.6] < to_input[1.0]
    assert to_prompt[1.0] < 0.35 * to_prompt[0.0]  # strength 1 is mostly the prompt image


async def test_img2img_size_is_the_input_or_the_requested_size(engine: PreviewEngine) -> None:
    data = png_bytes(smooth_photo(90, 120))
    same = await image_of(engine, with_image("sz1", "img2img", data, prompt="x"))
    assert same.shape[:2] == (90, 120)
    new = await image_of(engine, with_image("sz2", "img2img", data, prompt="x", width=200,
                                            height=100))
    assert new.shape[:2] == (100, 200)


@pytest.mark.parametrize("scale", [2, 4])
async def test_upscale_resamples_to_exactly_scale_times(
    engine: PreviewEngine, scale: int
) -> None:
    source = smooth_photo(60, 80)
    _, out = await run(engine, with_image("up", "upscale", png_bytes(source), scale=scale))
    big = Image.open(io.BytesIO(out[0].data))
    assert big.size == (80 * scale, 60 * scale)
    assert png_text(out[0].data)["stationthis:engine"] == "preview"
    back = np.asarray(big.convert("RGB").resize((80, 60), Image.Resampling.BOX), np.float32)
    assert float(np.abs(back - source).mean()) < 2.0


async def test_upscale_refuses_other_scales(engine: PreviewEngine) -> None:
    with pytest.raises(EngineFailed, match="scale must be 2 or 4"):
        await run(engine, with_image("up3", "upscale", png_bytes(smooth_photo()), scale=3))


def disc_on_background(noise: float, ring: bool = False) -> np.ndarray:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:160, 0:200]
    img = np.empty((160, 200, 3), np.float32)
    img[:] = (40, 70, 190)
    img += rng.normal(0, noise, img.shape)
    d2 = (y - 80) ** 2 + (x - 100) ** 2
    disc = d2 < 50**2
    img[disc & ~(ring & (d2 < 25**2))] = (215, 35, 30)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("noise", [0.0, 12.0])
async def test_rmbg_keeps_the_subject_and_clears_the_background(
    engine: PreviewEngine, noise: float
) -> None:
    _, out = await run(engine, with_image("rm", "rmbg", png_bytes(disc_on_background(noise))))
    cut = Image.open(io.BytesIO(out[0].data))
    assert cut.mode == "RGBA" and cut.size == (200, 160)
    alpha = np.asarray(cut)[..., 3]
    y, x = np.mgrid[0:160, 0:200]
    d2 = (y - 80) ** 2 + (x - 100) ** 2
    assert alpha[d2 < 45**2].min() >= 250  # the disc is opaque
    assert alpha[d2 > 56**2].max() <= 5  # the background is transparent
    for corner in (alpha[:8, :8], alpha[:8, -8:], alpha[-8:, :8], alpha[-8:, -8:]):
        assert corner.max() == 0


async def test_rmbg_only_clears_background_connected_to_the_border(
    engine: PreviewEngine,
) -> None:
    ring = disc_on_background(8.0, ring=True)  # blue shows through the ring's hole
    _, out = await run(engine, with_image("hole", "rmbg", png_bytes(ring)))
    alpha = np.asarray(Image.open(io.BytesIO(out[0].data)))[..., 3]
    assert alpha[80, 100] >= 250 and alpha[5, 5] == 0


# --- failures and cancellation ----------------------------------------------------------


async def test_unknown_categories_fail_by_name(engine: PreviewEngine) -> None:
    handle = await engine.submit(JobSpec("v", "clip", "video", {}))
    events = [e async for e in engine.events(handle)]
    assert events[-1].kind == "error" and "video" in (events[-1].message or "")
    with pytest.raises(EngineFailed, match="'video'"):
        await engine.result(handle)


@pytest.mark.parametrize("category", ["img2img", "upscale", "rmbg"])
async def test_image_tools_need_an_input_image(engine: PreviewEngine, category: str) -> None:
    with pytest.raises(EngineFailed, match="needs an input image"):
        await run(engine, JobSpec("noimg", category, category, {"prompt": "x"}))


async def test_bad_parameters_fail_clearly(engine: PreviewEngine) -> None:
    with pytest.raises(EngineFailed, match="width"):
        await run(engine, txt2img("w", "x", width=100_000))
    with pytest.raises(EngineFailed, match="batch"):
        await run(engine, txt2img("b", "x", batch="many"))


async def test_the_fail_when_hook_makes_runs_fail() -> None:
    engine = PreviewEngine(fail_when=lambda job: "GPU on fire" if "fire" in job.job_id else None)
    handle = await engine.submit(txt2img("fire-1", "x"))
    events = [e async for e in engine.events(handle)]
    assert [e.kind for e in events] == ["started", "error"]
    assert events[-1].message == "GPU on fire"
    with pytest.raises(EngineFailed, match="GPU on fire"):
        await engine.result(handle)
    assert (await run(engine, txt2img("calm-1", "x")))[1]


async def test_cancel_stops_a_run_midway() -> None:
    engine = PreviewEngine(step_delay=0.05)
    handle = await engine.submit(txt2img("slow", "a slow painting", steps=50))
    seen: list[EngineEvent] = []
    start = time.perf_counter()
    async for event in engine.events(handle):
        seen.append(event)
        if event.kind == "progress" and event.step and event.step >= 3:
            await engine.cancel(handle)
    assert seen[-1].kind == "cancelled"
    assert sum(e.kind == "progress" for e in seen) < 10
    assert time.perf_counter() - start < 1.5  # 50 steps would take 2.5 s
    with pytest.raises(EngineFailed, match="cancelled"):
        await engine.result(handle)
    assert (await engine.health()).load == 0
    await engine.cancel(handle)  # cancelling again is harmless


async def test_cancel_right_after_submit() -> None:
    engine = PreviewEngine(step_delay=0.05)
    handle = await engine.submit(txt2img("quick-cancel", "x"))
    await engine.cancel(handle)
    assert [e.kind async for e in engine.events(handle)] == ["cancelled"]
    with pytest.raises(EngineFailed, match="cancelled"):
        await engine.result(handle)

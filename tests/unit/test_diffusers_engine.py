"""The diffusers engine on a tiny, randomly initialised Stable Diffusion model.

The model is built from config alone (tests/support/tiny_pipeline.py) and saved to a folder,
so the engine loads it the way it loads a user's weights. The images it makes are noise-like,
but everything else is real: the denoising loop, the LoRA training with peft, saving the LoRA
and applying it to a later generation.

Tests that need torch/diffusers are skipped when the ``local`` extra is missing, except with
``CI=true`` or ``STATIONTHIS_REQUIRE_SERVICES=1``, where they fail (CI installs the extra).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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
from stationthis.engines.diffusers import DiffusersEngine

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REQUIRE_LOCAL = os.environ.get("CI") == "true" or os.environ.get(
    "STATIONTHIS_REQUIRE_SERVICES"
) == "1"
PROMPT = "a lighthouse at dusk"


def require_local_extra() -> None:
    for module in ("torch", "diffusers", "peft", "transformers", "safetensors"):
        try:
            __import__(module)
        except ImportError as exc:
            if REQUIRE_LOCAL:
                pytest.fail(f"the 'local' extra is required here (CI) but {module} is missing")
            pytest.skip(f"the 'local' extra is not installed ({exc})")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny model, saved once for the module; torch on one thread while it is used (the
    tensors are tiny, so more threads only add overhead on a busy 2-core machine)."""
    require_local_extra()
    import torch

    from tests.support.tiny_pipeline import save_tiny_pipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"), seed=0)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
async def engine(model_dir: Path) -> AsyncIterator[DiffusersEngine]:
    eng = DiffusersEngine(model_dir)
    yield eng
    await eng.aclose()


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def pixels(data: bytes) -> np.ndarray:
    arr: np.ndarray = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)
    return arr


def txt2img(
    job_id: str, seed: int = 1, steps: int = 4, assets: dict[str, bytes] | None = None,
    **params: object,
) -> JobSpec:
    params = {"prompt": PROMPT, "seed": seed, "steps": steps, **params}
    return JobSpec(job_id, "make", "txt2img", params, assets=assets or {})


def training_images() -> dict[str, ImageInput]:
    """Four small, clearly different pictures: stripes, a disc, a gradient, checks."""
    y, x = np.mgrid[0:64, 0:64]
    stripes = np.where((x // 8) % 2 == 0, 220, 30)
    disc = np.where((x - 32) ** 2 + (y - 32) ** 2 < 400, 240, 20)
    gradient = x * 4
    checks = np.where(((x // 16) + (y // 16)) % 2 == 0, 200, 60)
    out = {}
    for i, (a, b) in enumerate([(stripes, disc), (disc, gradient), (gradient, checks),
                                (checks, stripes)]):
        rgb = np.stack([a, b, 255 - a], axis=-1).astype(np.uint8)
        out[f"img{i}"] = ImageInput(png_bytes(rgb))
    return out


def train_job(job_id: str, steps: int = 16, **params: object) -> JobSpec:
    base: dict[str, object] = {
        "trigger": "zqxstyle",
        "captions": {"img0": "stripes", "img1": "a disc", "img2": "zqxstyle gradient"},
        "steps": steps,
        "learning_rate": 2e-3,
        "rank": 4,
        "resolution": 64,
        "batch": 2,
        "seed": 7,
    }
    return JobSpec(job_id, "train", "train", {**base, **params}, images=training_images())


async def run(
    engine: DiffusersEngine, job: JobSpec
) -> tuple[list[EngineEvent], list[Artifact]]:
    handle = await engine.submit(job)
    events = [e async for e in engine.events(handle)]
    return events, await engine.result(handle)


async def failure(engine: DiffusersEngine, job: JobSpec) -> tuple[list[EngineEvent], str]:
    handle = await engine.submit(job)
    events = [e async for e in engine.events(handle)]
    with pytest.raises(EngineFailed) as info:
        await engine.result(handle)
    return events, info.value.message


async def image_of(engine: DiffusersEngine, job: JobSpec) -> np.ndarray:
    return pixels((await run(engine, job))[1][0].data)


# -- without the extra ---------------------------------------------------------------------


def test_importing_the_engine_does_not_import_torch() -> None:
    code = (
        "import sys, stationthis.engines.diffusers as d; "
        "heavy = [m for m in ('torch', 'diffusers', 'peft', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy; print(d.DiffusersEngine.name)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "diffusers"


async def test_it_is_an_engine(tmp_path: Path) -> None:
    assert isinstance(DiffusersEngine(tmp_path), Engine)


async def test_a_missing_model_folder_is_reported_by_health_and_fails_jobs(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-model"
    eng = DiffusersEngine(missing)
    health = await eng.health()
    assert not health.ok
    assert str(missing) in health.detail and "does not exist" in health.detail
    events, message = await failure(eng, txt2img("j-missing"))
    assert events[-1].kind == "error"
    assert "does not exist" in message and str(missing) in message


async def test_a_folder_that_is_not_a_diffusers_model_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "model.ckpt").write_bytes(b"not a model")
    eng = DiffusersEngine(tmp_path)
    assert not (await eng.health()).ok
    _, message = await failure(eng, txt2img("j-notmodel"))
    assert "model_index.json" in message


async def test_an_unknown_category_fails_naming_it(tmp_path: Path) -> None:
    eng = DiffusersEngine(tmp_path)
    events, message = await failure(eng, JobSpec("j-up", "upscale", "upscale", {"scale": 2}))
    assert [e.kind for e in events] == ["started", "error"]
    assert "'upscale'" in message and "txt2img" in message and "train" in message


async def test_result_of_an_unknown_run_is_lost(tmp_path: Path) -> None:
    handle = RunHandle("diffusers", "j-old", "diffusers-from-before-a-restart")
    with pytest.raises(RunLost):
        await DiffusersEngine(tmp_path).result(handle)


# -- generation ----------------------------------------------------------------------------


async def test_txt2img_makes_pngs_with_a_progress_event_per_step(
    engine: DiffusersEngine,
) -> None:
    events, artifacts = await run(engine, txt2img("j-gen", steps=5))
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done"
    progress = [(e.step, e.total) for e in events if e.kind == "progress"]
    assert progress == [(i, 5) for i in range(1, 6)]
    [art] = artifacts
    assert art.name == "j-gen_0.png" and art.media_type == "image/png"
    assert art.meta["seed"] == 1
    img = Image.open(io.BytesIO(art.data))
    assert isinstance(img, PngImagePlugin.PngImageFile)
    assert img.format == "PNG" and img.size == (64, 64)
    assert img.text["stationthis:engine"] == "diffusers"
    assert img.text["stationthis:prompt"] == PROMPT and img.text["stationthis:seed"] == "1"
    health = await engine.health()
    assert health.ok and "loaded" in health.detail and "cpu" in health.detail


async def test_txt2img_is_deterministic_per_seed_and_differs_across_seeds(
    engine: DiffusersEngine,
) -> None:
    first = await image_of(engine, txt2img("j-a", seed=11))
    again = await image_of(engine, txt2img("j-b", seed=11))
    other = await image_of(engine, txt2img("j-c", seed=12))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 1.0


async def test_batch_and_size(engine: DiffusersEngine) -> None:
    _, artifacts = await run(engine, txt2img("j-batch", seed=5, batch=2, width=96, height=64))
    assert [a.name for a in artifacts] == ["j-batch_0.png", "j-batch_1.png"]
    assert [a.meta["seed"] for a in artifacts] == [5, 6]
    assert [Image.open(io.BytesIO(a.data)).size for a in artifacts] == [(96, 64)] * 2
    assert np.abs(pixels(artifacts[0].data) - pixels(artifacts[1].data)).mean() > 1.0


async def test_bad_parameters_and_missing_loras_fail_clearly(engine: DiffusersEngine) -> None:
    _, message = await failure(engine, txt2img("j-w", width=100))
    assert "width" in message and "multiple of 8" in message
    _, message = await failure(engine, txt2img("j-l", loras=["mystyle"]))
    assert "'mystyle'" in message and "not provided" in message
    bad = txt2img("j-bad", loras=["broken"], assets={"broken": b"not a safetensors file"})
    _, message = await failure(engine, bad)
    assert "'broken'" in message and "could not be loaded" in message


async def test_submit_is_idempotent(engine: DiffusersEngine) -> None:
    job = txt2img("j-idem", steps=2)
    first = await engine.submit(job)
    assert await engine.submit(job) == first
    await engine.result(first)


async def test_cancel_stops_generation_between_steps(engine: DiffusersEngine) -> None:
    handle = await engine.submit(txt2img("j-cancel-gen", steps=200))
    async for event in engine.events(handle):
        if event.kind == "progress":
            break
    await engine.cancel(handle)
    events = [e async for e in engine.events(handle)]
    assert events[-1].kind == "cancelled"
    steps = [e.step or 0 for e in events if e.kind == "progress"]
    assert max(steps) < 200
    with pytest.raises(EngineFailed):
        await engine.result(handle)


# -- LoRA training -------------------------------------------------------------------------


async def test_training_a_lora_changes_generation_only_while_it_is_applied(
    engine: DiffusersEngine,
) -> None:
    import safetensors.torch

    before = await image_of(engine, txt2img("j-before", seed=3))

    events, artifacts = await run(engine, train_job("j-train", steps=16))
    assert events[0].kind == "started" and events[-1].kind == "done"
    progress = [e for e in events if e.kind == "progress"]
    assert all(e.message == "training" and e.total == 16 for e in progress)
    losses = [e.extra["loss"] for e in progress if "loss" in e.extra]
    assert [e.step for e in progress if "loss" in e.extra] == list(range(1, 17))
    assert len(losses) == 16 and all(math.isfinite(x) and x > 0 for x in losses)

    [lora] = artifacts
    assert lora.name == "j-train.safetensors"
    assert lora.media_type == "application/octet-stream"
    assert lora.meta["kind"] == "lora" and lora.meta["trigger"] == "zqxstyle"
    assert lora.meta["steps"] == 16 and math.isfinite(lora.meta["final_loss"])
    weights = safetensors.torch.load(lora.data)
    lora_keys = [k for k in weights if "lora" in k]
    assert lora_keys and all(k.startswith("unet.") for k in weights)
    ups = [k for k in lora_keys if ".lora.up." in k or ".lora_B." in k]
    assert ups and any(float(weights[k].abs().sum()) > 0 for k in ups)  # B starts at zero

    # The shared pipeline is back to the plain model after training...
    np.testing.assert_array_equal(await image_of(engine, txt2img("j-after-train", seed=3)), before)
    # ...the LoRA, given as an asset, changes the same prompt and seed...
    styled_job = txt2img("j-styled", seed=3, loras=["mine"], assets={"mine": lora.data})
    styled = await image_of(engine, styled_job)
    assert np.abs(styled - before).mean() > 0.5
    again = txt2img("j-styled-2", seed=3, loras=["mine"], assets={"mine": lora.data})
    np.testing.assert_array_equal(await image_of(engine, again), styled)
    # ...half strength is in between...
    half_job = txt2img(
        "j-half", seed=3, loras=["mine"], assets={"mine": lora.data}, lora_scales={"mine": 0.5}
    )
    half = await image_of(engine, half_job)
    assert 0 < np.abs(half - before).mean() < np.abs(styled - before).mean()
    # ...and is unloaded afterwards: without it, exactly the original pixels.
    np.testing.assert_array_equal(await image_of(engine, txt2img("j-plain", seed=3)), before)


async def test_training_is_reproducible_for_a_seed(engine: DiffusersEngine) -> None:
    import safetensors.torch
    import torch

    runs = [train_job("j-t1", steps=4), train_job("j-t2", steps=4),
            train_job("j-t3", steps=4, seed=8)]
    a, b, c = [safetensors.torch.load((await run(engine, job))[1][0].data) for job in runs]
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


async def test_training_needs_images_and_a_trigger(engine: DiffusersEngine) -> None:
    _, message = await failure(engine, JobSpec("j-noimg", "train", "train", {"trigger": "x"}))
    assert "at least one image" in message
    _, message = await failure(engine, train_job("j-notrigger", trigger=""))
    assert "trigger" in message
    bad = JobSpec("j-badimg", "train", "train", {"trigger": "x", "steps": 2},
                  images={"broken": ImageInput(b"not an image")})
    _, message = await failure(engine, bad)
    assert "'broken'" in message


async def test_cancel_stops_training_early_and_keeps_the_loop_responsive(
    engine: DiffusersEngine,
) -> None:
    before = await image_of(engine, txt2img("j-before-cancel", seed=4))
    handle = await engine.submit(train_job("j-cancel-train", steps=2_000))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    clock = asyncio.create_task(ticker())
    async for event in engine.events(handle):
        if event.kind == "progress" and "loss" in event.extra:  # every 10 steps here
            break
    await engine.cancel(handle)
    clock.cancel()
    events = [e async for e in engine.events(handle)]
    assert events[-1].kind == "cancelled"
    assert max(e.step or 0 for e in events if e.kind == "progress") < 2_000
    assert ticks >= 5  # the event loop kept running while the worker thread trained
    with pytest.raises(EngineFailed, match="cancelled"):
        await engine.result(handle)
    # The half-trained adapter was removed from the shared UNet.
    np.testing.assert_array_equal(await image_of(engine, txt2img("j-after-cancel", seed=4)), before)


async def test_training_sends_samples_of_what_it_has_learnt_every_n_steps(
    engine: DiffusersEngine,
) -> None:
    events, _ = await run(engine, train_job("j-samples", steps=8, sample_every=3,
                                            learning_rate=2e-2))
    samples = [e for e in events if e.kind == "preview"]
    assert [(e.step, e.total, e.message) for e in samples] == [
        (3, 8, "sample"), (6, 8, "sample"), (8, 8, "sample")]  # every 3 steps and at the end
    first, *_, last = [pixels(e.preview or b"") for e in samples]
    assert first.shape == (64, 64, 3)  # JPEGs at the training resolution (capped)
    assert np.abs(last - first).mean() > 0  # the later sample shows more training

    events, _ = await run(engine, train_job("j-no-samples", steps=4, sample_every=0))
    assert not [e for e in events if e.kind == "preview"]
    events, _ = await run(engine, train_job("j-default-samples", steps=8))
    assert [e.step for e in events if e.kind == "preview"] == [2, 4, 6, 8]  # a quarter each

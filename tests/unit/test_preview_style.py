"""Style-profile training and application in the preview engine."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from stationthis.core.engine import Artifact, EngineEvent, ImageInput, JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview import PreviewEngine
from stationthis.engines.preview.stats import texture_energy


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def greenish(i: int) -> np.ndarray:
    """Soft green landscapes-ish: vertical gradients of greens with mild noise."""
    rng = np.random.default_rng(i)
    h, w = 96, 128
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    top = np.array([90, 170 + 10 * i, 80], np.float32)
    bottom = np.array([20, 90 + 5 * i, 30], np.float32)
    img = top + (bottom - top) * t + rng.normal(0, 4, (h, w, 3))
    return np.clip(np.broadcast_to(img, (h, w, 3)), 0, 255).astype(np.uint8)


def busy(i: int) -> np.ndarray:
    """Grey, high-contrast fine texture (checks and noise)."""
    rng = np.random.default_rng(100 + i)
    y, x = np.mgrid[0:96, 0:128]
    checks = ((x // 2 + y // 2) % 2) * 120 + 60
    img = checks[..., None] + rng.normal(0, 20, (96, 128, 1))
    out: np.ndarray = np.clip(np.repeat(img, 3, axis=2), 0, 255).astype(np.uint8)
    return out


def flat_grey(i: int) -> np.ndarray:
    return np.full((96, 128, 3), 120 + i, np.uint8)


def train_job(job_id: str, images: list[np.ndarray], **params: Any) -> JobSpec:
    data = {f"img{i}.png": ImageInput(png_bytes(a)) for i, a in enumerate(images)}
    return JobSpec(job_id, "train-style", "train", {"trigger": "mystyle", **params}, images=data)


async def run(engine: PreviewEngine, job: JobSpec) -> tuple[list[EngineEvent], list[Artifact]]:
    handle = await engine.submit(job)
    events = [e async for e in engine.events(handle)]
    return events, await engine.result(handle)


async def train(engine: PreviewEngine, images: list[np.ndarray], job_id: str) -> bytes:
    _, artifacts = await run(engine, train_job(job_id, images, steps=200))
    data: bytes = artifacts[0].data
    return data


async def generate(
    engine: PreviewEngine, job_id: str, profiles: dict[str, bytes], size: int = 512
) -> np.ndarray:
    params = {"prompt": "a red fox at sunset", "seed": 11, "loras": list(profiles),
              "width": size, "height": size}
    job = JobSpec(job_id, "make", "txt2img", params, assets=profiles)
    out = (await run(engine, job))[1][0]
    return np.asarray(Image.open(io.BytesIO(out.data)).convert("RGB"), dtype=np.float32) / 255


async def test_training_writes_a_readable_profile_quickly() -> None:
    engine = PreviewEngine()
    captions = {"img0.png": "a mystyle meadow", "img1.png": "a meadow with hills"}
    job = train_job("t1", [greenish(i) for i in range(4)], steps=1000, captions=captions)
    start = time.perf_counter()
    events, artifacts = await run(engine, job)
    assert time.perf_counter() - start < 1.0
    progress = [e for e in events if e.kind == "progress"]
    assert events[0].kind == "started" and events[-1].kind == "done"
    assert 5 <= len(progress) <= 50  # a thousand steps, reported in a few dozen events
    assert all(e.total == 1000 for e in progress) and progress[-1].step == 1000
    [artifact] = artifacts
    assert artifact.name == "t1.stprofile.json" and artifact.media_type == "application/json"
    profile = json.loads(artifact.data)
    assert profile["trigger"] == "mystyle" and profile["version"] == 1
    assert profile["images"] == 4 and len(profile["palette"]) == 5
    assert abs(sum(p["weight"] for p in profile["palette"]) - 1.0) < 0.01
    assert 0 < profile["luminance"]["mean"] < 1 and 0 < profile["saturation"]["mean"] < 1
    assert profile["texture"]["energy"] >= 0
    assert "meadow" in profile["caption_words"] and "mystyle" not in profile["caption_words"]


async def test_training_is_deterministic() -> None:
    images = [greenish(i) for i in range(3)]
    a = await train(PreviewEngine(), images, "d1")
    b = await train(PreviewEngine(), images, "d2")
    assert a == b


async def test_the_palette_and_texture_describe_the_dataset() -> None:
    engine = PreviewEngine()
    green = json.loads(await train(engine, [greenish(i) for i in range(3)], "g"))
    for entry in green["palette"]:
        r, g, b = entry["rgb"]
        assert g > r and g > b  # every dominant colour is a green
    textured = json.loads(await train(engine, [busy(i) for i in range(3)], "b"))
    flat = json.loads(await train(engine, [flat_grey(i) for i in range(3)], "f"))
    assert textured["texture"]["energy"] > 10 * max(flat["texture"]["energy"], 0.001)
    assert flat["saturation"]["mean"] < 0.05


@pytest.mark.parametrize("size", [512, 1024])
async def test_a_profile_pulls_generations_toward_the_dataset_palette(size: int) -> None:
    engine = PreviewEngine()
    profile = await train(engine, [greenish(i) for i in range(4)], "green")
    plain = await generate(engine, "plain", {}, size)
    styled = await generate(engine, "styled", {"green": profile}, size)
    dataset_mean = np.mean([greenish(i).mean(axis=(0, 1)) for i in range(4)], axis=0) / 255

    def greenness(img: np.ndarray) -> float:
        r, g, b = img.mean(axis=(0, 1))
        return float(g - (r + b) / 2)

    before = float(np.linalg.norm(plain.mean(axis=(0, 1)) - dataset_mean))
    after = float(np.linalg.norm(styled.mean(axis=(0, 1)) - dataset_mean))
    assert after < 0.5 * before
    assert greenness(styled) > greenness(plain) + 0.15
    # The picture is still the same picture: its layout survives the re-colouring.
    lum = np.array([0.2126, 0.7152, 0.0722])
    corr = np.corrcoef((plain @ lum).ravel(), (styled @ lum).ravel())[0, 1]
    assert corr > 0.5


@pytest.mark.parametrize("size", [512, 1024])
async def test_a_busy_dataset_adds_texture(size: int) -> None:
    engine = PreviewEngine()
    textured = await train(engine, [busy(i) for i in range(3)], "busy")
    flat = await train(engine, [flat_grey(i) for i in range(3)], "flat")
    with_busy = texture_energy(await generate(engine, "x1", {"busy": textured}, size))
    with_flat = texture_energy(await generate(engine, "x2", {"flat": flat}, size))
    assert with_busy > 1.5 * with_flat


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x89PNG not json", "not JSON"),
        (b'{"format": "something-else", "version": 1}', "format"),
        (b'{"format": "stationthis.style-profile", "version": 99}', "version"),
        (b'{"format": "stationthis.style-profile", "version": 1, "palette": []}', "malformed"),
    ],
)
async def test_invalid_profiles_fail_clearly(data: bytes, why: str) -> None:
    engine = PreviewEngine()
    with pytest.raises(EngineFailed, match=f"style profile 'broken'.*{why}"):
        await generate(engine, "bad", {"broken": data})


async def test_profiles_with_impossible_values_are_refused() -> None:
    engine = PreviewEngine()
    good = json.loads(await train(engine, [greenish(0)], "ok"))
    good["palette"][0]["rgb"] = [300, 0, 0]
    with pytest.raises(EngineFailed, match="0 to 255"):
        await generate(engine, "bad2", {"p": json.dumps(good).encode()})


async def test_a_missing_profile_is_named() -> None:
    engine = PreviewEngine()
    job = JobSpec("m", "make", "txt2img", {"prompt": "x", "loras": ["ghost"]})
    with pytest.raises(EngineFailed, match="'ghost' was not provided"):
        await run(engine, job)


async def test_training_needs_images() -> None:
    with pytest.raises(EngineFailed, match="at least one image"):
        await run(PreviewEngine(), JobSpec("e", "train-style", "train", {"steps": 10}))

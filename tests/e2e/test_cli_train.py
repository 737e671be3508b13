"""End to end: a personal model from the command line, as issue #5's user does it — create a
dataset, add captioned images, see why it is not ready, fix it, get a quote, train while
watching progress, and use the model in the next ``make``; on the preview engine and on the
diffusers engine (a tiny randomly initialised pipeline; needs the ``local`` extra)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from tests.e2e.test_cli import NO_REFILL, Result, Station, finish

LONG = 300.0  # a CPU training under a loaded test run


def photos(folder: Path, count: int, size: int = 96) -> list[Path]:
    rng = np.random.default_rng(5)
    paths = []
    for i in range(count):
        base = np.array([200, 40 + 30 * i, 60], dtype=float)
        pixels = np.clip(rng.normal(base, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        path = folder / f"photo{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def image_of(result: Result) -> np.ndarray:
    found = re.search(r"image: (\S+\.png)", result.out)
    assert found, str(result)
    return np.asarray(Image.open(found.group(1)).convert("RGB"), dtype=np.float64)


def dataset_id(result: Result) -> str:
    found = re.search(r"dataset (\w+) ", result.out)
    assert found, str(result)
    return found.group(1)


def run_training_path(station: Station, tmp_path: Path, *, steps: str, make: list[str],
                      train: tuple[str, ...] = (), min_change: float = 1.0,
                      **settings: str) -> None:
    """The whole path for one engine; every step's output is what a user reads."""
    ok = station.ok
    for name in ("alice", "bob"):
        ok("users", "add", name, **settings)
    station.ok("points", "grant", "alice", "5000", **settings)
    ds = dataset_id(ok("dataset", "create", "Zorbo", "--trigger", "zorbo", "-u", "alice",
                       **settings))
    files = photos(tmp_path, 4)
    added = ok("dataset", "add", ds, *map(str, files[:3]), "--caption", "a red creature",
               "-u", "alice", **settings)
    assert "added 3" in added.out and "3/20" in added.out
    shown = ok("dataset", "show", ds, "-u", "alice", **settings)
    assert "Images 3/20, Captions 3/3: add 1 more image (at least 4 are needed)" in shown.out
    refused = station("train", "start", ds, "-u", "alice", **settings)
    assert refused.code != 0 and "not ready" in refused.err.lower(), str(refused)
    assert "Traceback" not in refused.err
    assert station.balance("alice", **settings)[0] == 5000 + 1000  # nothing held or spent

    added = ok("dataset", "add", ds, str(files[3]), "-u", "alice", **settings)  # no caption
    assert "caption" in added.out.lower(), str(added)  # ready needs every image captioned
    ok("dataset", "caption", ds, "4", "a red creature, side view", "-u", "alice", **settings)
    shown = ok("dataset", "show", ds, "-u", "alice", **settings)
    assert "Captions 4/4" in shown.out and "zorbo" in shown.out  # trigger word injected

    quote = ok("train", "quote", ds, "--steps", steps, *train, "-u", "alice", **settings)
    points = int(re.search(r"training: (\d+) points", quote.out).group(1))  # type: ignore[union-attr]
    assert points == 1000 + 50 * 4 + 20 * (int(steps) // 100)
    dry = ok("train", "start", ds, "--steps", steps, *train, "-u", "alice", "--dry-run",
             **settings)
    assert dry.out == quote.out + "dry run: nothing was held or run\n"
    before = station.balance("alice", **settings)[0]
    trained = station.start("train", "start", ds, "--steps", steps, *train, "-u", "alice",
                            **settings)
    result = finish(trained, timeout=LONG)
    assert result.code == 0, str(result)
    assert re.search(r"\d+%", result.err), str(result)  # progress was shown as it trained
    assert "model 'Zorbo' ready (trigger word 'zorbo')" in result.out
    assert station.balance("alice", **settings)[0] == before - points
    assert "Zorbo" in ok("models", "-u", "alice", **settings).out

    with_model = image_of(ok("make", "a zorbo in a field", "--seed", "4", "-u", "alice",
                             "--out", str(tmp_path / "a"), *make, **settings))
    without = image_of(ok("make", "a zorbo in a field", "--seed", "4", "-u", "bob",
                          "--out", str(tmp_path / "b"), *make, **settings))
    assert with_model.shape == without.shape
    assert np.abs(with_model - without).mean() > min_change  # the model changed her picture


def test_dataset_to_trained_model_to_make_on_the_preview_engine(tmp_path: Path) -> None:
    station = Station(tmp_path, **NO_REFILL)
    run_training_path(station, tmp_path, steps="200", make=[])


def test_dataset_to_trained_lora_to_make_on_the_diffusers_engine(tmp_path: Path) -> None:
    from tests.unit.test_diffusers_engine import require_local_extra

    require_local_extra()
    from tests.support.tiny_pipeline import save_tiny_pipeline

    model_dir = save_tiny_pipeline(tmp_path / "tiny-sd", seed=0)
    station = Station(tmp_path, **NO_REFILL, STATIONTHIS_ENGINE="diffusers",
                      STATIONTHIS_DIFFUSERS_MODEL_DIR=str(model_dir),
                      STATIONTHIS_TRAINING_RESOLUTION="64", HF_HUB_OFFLINE="1")
    # A tiny random pipeline after 10 steps: the LoRA's change is real but small.
    run_training_path(station, tmp_path, steps="10", train=("--set", "resolution=256"),
                      min_change=0.01,
                      make=["--width", "64", "--height", "64", "--steps", "4"])

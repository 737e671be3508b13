"""Reading a job's parameters for the diffusers engine: types, ranges and defaults.

Pure Python (no torch), so bad parameters fail fast with a message a user can act on.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from stationthis.core.engine import JobSpec
from stationthis.core.errors import EngineFailed

MAX_SIDE = 2048
MAX_BATCH = 8
MAX_GEN_STEPS = 200
MAX_TRAIN_STEPS = 10_000
MAX_RANK = 128
DEFAULT_GEN_STEPS = 25
DEFAULT_TRAIN_STEPS = 500


def int_param(params: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    """A whole number from ``lo`` to ``hi``; accepts ints, integral floats and digit strings."""
    value = params.get(key)
    if value is None or value == "":
        return default
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.removeprefix("-").isdigit():
            number = int(text)
    if number is None or not lo <= number <= hi:
        raise EngineFailed(f"{key} must be a whole number from {lo} to {hi} (got {value!r})")
    return number


def float_param(params: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = params.get(key)
    if value is None or value == "":
        return default
    number = math.nan
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number) or not lo <= number <= hi:
        raise EngineFailed(f"{key} must be a number from {lo} to {hi} (got {value!r})")
    return number


def side_param(params: dict[str, Any], key: str, default: int) -> int:
    """An image side in pixels: a multiple of 8, as Stable Diffusion needs."""
    side = int_param(params, key, default, 64, MAX_SIDE)
    if side % 8:
        raise EngineFailed(f"{key} must be a multiple of 8 (got {side})")
    return side


def default_seed(job: JobSpec) -> int:
    """A seed derived from the job id, so a job without one is still reproducible."""
    digest = hashlib.sha256(f"seed:{job.job_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def seed_param(job: JobSpec) -> int:
    seed = job.params.get("seed")
    if seed is None or seed == "":
        return default_seed(job)
    return int_param({"seed": seed}, "seed", 0, 0, 2**63 - 1)


@dataclass(frozen=True)
class GenParams:
    prompt: str
    negative: str
    seed: int
    width: int
    height: int
    steps: int
    cfg: float
    batch: int
    loras: tuple[str, ...]
    lora_scales: tuple[float, ...]

    def meta(self, tool: str, seed: int) -> dict[str, Any]:
        """What an output image records about how it was made."""
        info: dict[str, Any] = {
            "tool": tool, "prompt": self.prompt, "negative": self.negative, "seed": seed,
            "width": self.width, "height": self.height, "steps": self.steps, "cfg": self.cfg,
        }
        if self.loras:
            info["loras"] = list(self.loras)
        return info


def gen_params(job: JobSpec, default_side: int) -> GenParams:
    p = job.params
    loras = p.get("loras") or []
    if isinstance(loras, str) or not isinstance(loras, list | tuple):
        raise EngineFailed("loras must be a list of LoRA names")
    if not all(isinstance(x, str) and x for x in loras):
        raise EngineFailed("loras must be a list of LoRA names")
    if len(set(loras)) != len(loras):
        raise EngineFailed("loras lists the same LoRA twice")
    scales_in = p.get("lora_scales") or {}
    if not isinstance(scales_in, dict):
        raise EngineFailed("lora_scales must map LoRA names to numbers")
    scales = tuple(float_param(scales_in, name, 1.0, -4.0, 4.0) for name in loras)
    for name in loras:
        if name not in job.assets:
            raise EngineFailed(f"LoRA '{name}' was not provided with the job")
    return GenParams(
        prompt=str(p.get("prompt") or ""),
        negative=str(p.get("negative") or ""),
        seed=seed_param(job),
        width=side_param(p, "width", default_side),
        height=side_param(p, "height", default_side),
        steps=int_param(p, "steps", DEFAULT_GEN_STEPS, 1, MAX_GEN_STEPS),
        cfg=float_param(p, "cfg", 7.0, 0.0, 50.0),
        batch=int_param(p, "batch", 1, 1, MAX_BATCH),
        loras=tuple(loras),
        lora_scales=scales,
    )


@dataclass(frozen=True)
class TrainParams:
    trigger: str
    captions: dict[str, str]  # image name -> caption, the trigger word included
    steps: int
    learning_rate: float
    rank: int
    resolution: int
    batch: int
    seed: int
    sample_every: int = 0  # a sample picture every N steps (and at the end); 0: none


SAMPLES_PER_TRAINING = 4  # the default: a sample after each quarter of the steps


def caption_with_trigger(caption: str, trigger: str) -> str:
    caption = " ".join(caption.split())
    if not caption:
        return trigger
    if trigger.lower() in caption.lower().split():
        return caption
    return f"{trigger}, {caption}"


def train_params(job: JobSpec, default_resolution: int) -> TrainParams:
    p = job.params
    if not job.images:
        raise EngineFailed("training needs at least one image")
    trigger = " ".join(str(p.get("trigger") or "").split())
    if not trigger:
        raise EngineFailed("training needs a trigger word (params['trigger'])")
    captions_in = p.get("captions") or {}
    if not isinstance(captions_in, dict):
        raise EngineFailed("captions must map image names to text")
    unknown = sorted(str(k) for k in captions_in if k not in job.images)
    if unknown:
        raise EngineFailed(f"captions name images the job does not have: {', '.join(unknown)}")
    captions = {
        name: caption_with_trigger(str(captions_in.get(name) or ""), trigger)
        for name in sorted(job.images)
    }
    steps = int_param(p, "steps", DEFAULT_TRAIN_STEPS, 1, MAX_TRAIN_STEPS)
    return TrainParams(
        trigger=trigger,
        captions=captions,
        steps=steps,
        sample_every=int_param(p, "sample_every", -(-steps // SAMPLES_PER_TRAINING), 0,
                               MAX_TRAIN_STEPS),
        learning_rate=float_param(p, "learning_rate", 1e-4, 1e-7, 1.0),
        rank=int_param(p, "rank", 4, 1, MAX_RANK),
        resolution=side_param(p, "resolution", default_resolution),
        batch=int_param(p, "batch", 1, 1, MAX_BATCH),
        seed=seed_param(job),
    )

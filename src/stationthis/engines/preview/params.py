"""Reading a job's parameters defensively: types, ranges and defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stationthis.core.engine import JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview.palette import stable_hash

MAX_SIDE = 4096
MAX_BATCH = 16
MAX_STEPS = 10_000
DEFAULT_STEPS = {"txt2img": 20, "img2img": 20, "upscale": 4, "rmbg": 4, "train": 500}


def int_param(params: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None or not lo <= number <= hi:
        raise EngineFailed(f"{key} must be a whole number from {lo} to {hi} (got {value!r})")
    return number


def float_param(params: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not lo <= number <= hi:
        raise EngineFailed(f"{key} must be a number from {lo} to {hi} (got {value!r})")
    return number


def steps_for(job: JobSpec) -> int:
    return int_param(job.params, "steps", DEFAULT_STEPS.get(job.category, 10), 1, MAX_STEPS)


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
    strength: float
    loras: tuple[str, ...]

    def meta(self, tool: str, seed: int) -> dict[str, object]:
        """What the PNG text chunks record about one image."""
        info: dict[str, object] = {
            "tool": tool, "prompt": self.prompt, "negative": self.negative, "seed": seed,
            "width": self.width, "height": self.height, "steps": self.steps, "cfg": self.cfg,
        }
        if self.loras:
            info["loras"] = list(self.loras)
        return info


def gen_params(job: JobSpec, size: tuple[int, int] = (512, 512)) -> GenParams:
    """Generation parameters; ``size`` is the default width and height."""
    p = job.params
    seed = p.get("seed")
    if seed is None or seed == "":
        seed = stable_hash("seed", job.job_id) % 2**32
    loras = p.get("loras") or []
    if isinstance(loras, str) or not all(isinstance(x, str) for x in loras):
        raise EngineFailed("loras must be a list of style profile names")
    return GenParams(
        prompt=str(p.get("prompt") or ""),
        negative=str(p.get("negative") or ""),
        seed=int_param({"seed": seed}, "seed", 0, 0, 2**64 - 1),
        width=int_param(p, "width", size[0], 16, MAX_SIDE),
        height=int_param(p, "height", size[1], 16, MAX_SIDE),
        steps=steps_for(job),
        cfg=float_param(p, "cfg", 7.0, 0.0, 100.0),
        batch=int_param(p, "batch", 1, 1, MAX_BATCH),
        strength=float_param(p, "strength", 0.6, 0.0, 1.0),
        loras=tuple(loras),
    )

"""Style profiles: the preview engine's honest stand-in for LoRA training.

Training measures a dataset (dominant palette, tone, saturation, texture) and writes a small
JSON "style profile". Applying a profile re-colours a generated image through the dataset's
palette (a gradient map by luminance), matches its tone and saturation, and adds texture
until the image is about as busy as the dataset was. No neural network is involved.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from stationthis.core.errors import EngineFailed
from stationthis.engines.preview.render import fbm
from stationthis.engines.preview.stats import (
    analysis_view,
    gradient_magnitude,
    kmeans,
    luminance,
    saturation,
    texture_energy,
)

FORMAT = "stationthis.style-profile"
VERSION = 1
MAX_PROFILE_BYTES = 256 * 1024
SAMPLES_PER_IMAGE = 3000
MAX_PALETTE_POINTS = 60_000
MAX_GRAIN = 0.35  # the strongest texture noise a profile may add
Array = np.ndarray


@dataclass(frozen=True)
class ImageStats:
    samples: Array  # (N, 3) float32 pixels sampled for the palette
    lum: tuple[float, float]  # mean, std
    sat: tuple[float, float]
    grad: tuple[float, float]  # gradient magnitude mean, std at analysis size


def measure(img: Image.Image, index: int = 0) -> ImageStats:
    """Statistics of one dataset image (transparent pixels are ignored)."""
    small = img.copy()
    small.thumbnail((256, 256), Image.Resampling.BOX)
    rgba = np.asarray(small.convert("RGBA"), dtype=np.float32) / 255.0
    rgb, opaque = rgba[..., :3], rgba[..., 3] > 0.5
    pixels = rgb[opaque] if opaque.any() else rgb.reshape(-1, 3)
    rng = np.random.default_rng(index)
    take = min(len(pixels), SAMPLES_PER_IMAGE)
    samples = pixels[rng.choice(len(pixels), take, replace=False)]
    lum, sat = luminance(pixels), saturation(pixels)
    grad = gradient_magnitude(luminance(analysis_view(rgb)))
    return ImageStats(
        samples=samples.astype(np.float32),
        lum=(float(lum.mean()), float(lum.std())),
        sat=(float(sat.mean()), float(sat.std())),
        grad=(float(grad.mean()), float(grad.std())),
    )


def _caption_words(captions: dict[str, str], trigger: str) -> list[str]:
    counts: Counter[str] = Counter()
    for text in captions.values():
        counts.update(w for w in re.findall(r"[a-z]{3,}", str(text).lower()) if w != trigger)
    return [w for w, _ in counts.most_common(8)]


def build_profile(
    stats: list[ImageStats], trigger: str, steps: int, captions: dict[str, str], colours: int = 5
) -> dict[str, Any]:
    """Combine per-image statistics into a profile (a JSON-ready dict)."""
    if not stats:
        raise EngineFailed("training needs at least one image")
    points = np.concatenate([s.samples for s in stats])
    if len(points) > MAX_PALETTE_POINTS:
        pick = np.random.default_rng(0).choice(len(points), MAX_PALETTE_POINTS, replace=False)
        points = points[pick]
    iterations = max(5, min(30, steps // 40))
    centres, weights = kmeans(points, colours, iterations, seed=len(stats))

    def avg(pick: Callable[[ImageStats], float]) -> float:
        return round(float(np.mean([pick(s) for s in stats])), 5)

    return {
        "format": FORMAT,
        "version": VERSION,
        "engine": "preview",
        "trigger": trigger,
        "note": "palette, tone and texture statistics of the dataset; not neural weights",
        "images": len(stats),
        "steps": steps,
        "palette": [
            {"rgb": [round(float(v) * 255) for v in c], "weight": round(float(w), 4)}
            for c, w in zip(centres, weights, strict=True)
        ],
        "luminance": {"mean": avg(lambda s: s.lum[0]), "std": avg(lambda s: s.lum[1])},
        "saturation": {"mean": avg(lambda s: s.sat[0]), "std": avg(lambda s: s.sat[1])},
        "texture": {"energy": avg(lambda s: s.grad[0]), "std": avg(lambda s: s.grad[1])},
        "caption_words": _caption_words(captions, trigger.lower()),
    }


@dataclass(frozen=True)
class Profile:
    name: str
    palette: Array  # (K, 3) float 0..1
    lum_mean: float
    lum_std: float
    sat_mean: float
    texture: float


def parse_profile(name: str, data: bytes) -> Profile:
    """Validate profile bytes; any problem is an ``EngineFailed`` that names the profile."""

    def bad(why: str) -> EngineFailed:
        return EngineFailed(f"style profile '{name}' is not a valid preview style profile: {why}")

    if len(data) > MAX_PROFILE_BYTES:
        raise bad("it is too large")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad("it is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"the format field is not {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise bad(f"version {doc.get('version')!r} is not supported (expected {VERSION})")
    try:
        colours = [entry["rgb"] for entry in doc["palette"]]
        palette = np.asarray(colours, dtype=np.float64)
        numbers = [
            float(doc["luminance"]["mean"]), float(doc["luminance"]["std"]),
            float(doc["saturation"]["mean"]), float(doc["texture"]["energy"]),
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"a field is missing or malformed ({exc})") from exc
    if palette.ndim != 2 or palette.shape[1] != 3 or not 1 <= len(palette) <= 16:
        raise bad("the palette must list 1 to 16 RGB colours")
    if not np.all(np.isfinite(palette)) or palette.min() < 0 or palette.max() > 255:
        raise bad("palette colours must be RGB values from 0 to 255")
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in numbers):
        raise bad("statistics must be numbers from 0 to 1")
    lum_mean, lum_std, sat_mean, texture = numbers
    return Profile(name, (palette / 255.0).astype(np.float32), lum_mean, lum_std, sat_mean, texture)


def apply_profile(img: Array, profile: Profile, weight: float, seed: int) -> Array:
    """Pull an image (float HxWx3, 0..1) toward a profile; ``weight`` 0..1."""
    lum = luminance(img)
    probe = lum[::4, ::4]
    mean, std = float(probe.mean()), float(probe.std()) + 1e-4
    gain = min(3.0, max(0.3, profile.lum_std / std))
    target = np.clip(profile.lum_mean + (lum - mean) * gain, 0.0, 1.0)

    # Gradient map: each pixel takes the palette colour whose luminance matches its target.
    pal_lum = luminance(profile.palette)
    order = np.argsort(pal_lum, kind="stable")
    stops, colours = pal_lum[order], profile.palette[order]
    mapped = np.stack([np.interp(target, stops, colours[:, c]) for c in range(3)], axis=-1)
    mapped = mapped.astype(np.float32)
    # Restore the target tone where the palette could not reach it, then match saturation.
    mapped *= np.clip(target / np.maximum(luminance(mapped), 1e-3), 0.5, 2.0)[..., None]
    grey = luminance(mapped)[..., None]
    sat_now = float(saturation(np.clip(mapped[::4, ::4], 0.0, 1.0)).mean()) + 1e-4
    mapped = grey + (mapped - grey) * min(2.0, max(0.5, profile.sat_mean / sat_now))
    out = img + (np.clip(mapped, 0.0, 1.0) - img) * weight

    # Texture: add fine noise until the image is about as busy as the dataset.
    have = texture_energy(out)
    if profile.texture > have + 1e-3:
        height, width = out.shape[:2]
        noise = fbm(np.random.default_rng(seed), height, width, 60, 2) - 0.5
        unit = texture_energy(np.repeat(noise[..., None], 3, axis=2) + 0.5)
        amount = math.sqrt(profile.texture**2 - have**2) / max(unit, 1e-4)
        out += (min(amount, MAX_GRAIN) * weight * noise)[..., None]
    result: Array = np.clip(out, 0.0, 1.0)
    return result

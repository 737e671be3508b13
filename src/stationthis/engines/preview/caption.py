"""A plain, honest caption from image statistics: dominant colours, light, colourfulness and
texture — what a trainer's caption needs when nobody wrote one, without any AI model."""

from __future__ import annotations

import numpy as np
from PIL import Image

from stationthis.engines.preview.style import measure

# A few colour names a person would use, as sRGB points.
_NAMES = {
    "black": (20, 20, 20), "white": (235, 235, 235), "grey": (128, 128, 128),
    "red": (200, 40, 40), "orange": (230, 130, 30), "yellow": (230, 210, 50),
    "green": (60, 160, 60), "teal": (40, 150, 150), "blue": (50, 90, 200),
    "purple": (130, 60, 170), "pink": (230, 130, 180), "brown": (120, 80, 40),
}


def _name(rgb: np.ndarray) -> str:
    points = np.array(list(_NAMES.values()), np.float32) / 255.0
    return list(_NAMES)[int(np.argmin(((points - rgb) ** 2).sum(axis=1)))]


def describe(img: Image.Image) -> str:
    stats = measure(img)
    names: list[str] = []
    counts: dict[str, int] = {}
    for pixel in stats.samples:
        name = _name(pixel)
        counts[name] = counts.get(name, 0) + 1
    for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        if count >= 0.15 * len(stats.samples) and len(names) < 2:
            names.append(name)
    colours = " and ".join(names) or "mixed"
    light = "dark" if stats.lum[0] < 0.3 else "bright" if stats.lum[0] > 0.7 else "mid-toned"
    vivid = "vivid" if stats.sat[0] > 0.45 else "muted" if stats.sat[0] < 0.15 else ""
    texture = "with fine detail" if stats.grad[0] > 0.08 else "with smooth areas"
    shape = ("wide" if img.width > img.height * 1.2
             else "tall" if img.height > img.width * 1.2 else "square")
    words = [w for w in (light, vivid) if w]
    return f"a {', '.join(words)} {shape} picture in {colours} tones, {texture}"

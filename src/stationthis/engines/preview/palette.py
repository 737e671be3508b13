"""Prompt analysis: which colours, features and layout a prompt asks for.

Colour words and scene words drive the palette and the features drawn; every other word
(together with the seed) is hashed into the composition. Everything here is deterministic.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from dataclasses import dataclass, field

RGB = tuple[float, float, float]  # components in 0..1

_WORD = re.compile(r"[a-z]+")


def _c(r: int, g: int, b: int) -> RGB:
    return (r / 255.0, g / 255.0, b / 255.0)


COLOUR_WORDS: dict[str, RGB] = {
    "red": _c(205, 40, 35), "crimson": _c(170, 20, 50), "scarlet": _c(230, 45, 30),
    "ruby": _c(190, 20, 60), "orange": _c(240, 130, 30), "amber": _c(250, 170, 40),
    "yellow": _c(240, 210, 60), "golden": _c(232, 178, 60), "gold": _c(232, 178, 60),
    "green": _c(55, 165, 70), "emerald": _c(20, 150, 90), "lime": _c(150, 210, 60),
    "olive": _c(120, 130, 50), "mint": _c(150, 220, 180), "teal": _c(20, 130, 130),
    "cyan": _c(40, 200, 220), "turquoise": _c(60, 200, 190), "aqua": _c(80, 210, 220),
    "blue": _c(40, 90, 205), "azure": _c(60, 140, 230), "navy": _c(20, 30, 95),
    "cobalt": _c(30, 70, 170), "sapphire": _c(25, 60, 160), "indigo": _c(60, 40, 140),
    "purple": _c(120, 50, 165), "violet": _c(140, 80, 205), "lavender": _c(180, 160, 225),
    "magenta": _c(210, 40, 160), "pink": _c(240, 140, 180), "rose": _c(220, 90, 120),
    "brown": _c(125, 80, 50), "tan": _c(205, 170, 120), "beige": _c(222, 202, 170),
    "copper": _c(184, 115, 51), "bronze": _c(170, 120, 60), "white": _c(242, 242, 240),
    "black": _c(22, 22, 28), "grey": _c(128, 128, 132), "gray": _c(128, 128, 132),
    "silver": _c(190, 195, 205),
}


@dataclass(frozen=True)
class _Hint:
    colours: tuple[RGB, ...]
    features: frozenset[str]


def _hint(cols: tuple[tuple[int, int, int], ...], *features: str) -> _Hint:
    return _Hint(tuple(_c(*c) for c in cols), frozenset(features))


_FOREST = _hint(((40, 110, 55), (95, 155, 75), (205, 225, 170)), "trees")
_OCEAN = _hint(((25, 80, 150), (60, 165, 205), (205, 232, 242)), "water")
_NIGHT = _hint(((30, 35, 95), (80, 60, 140), (230, 230, 205)), "night", "stars")
_SUNSET = _hint(((250, 125, 55), (205, 65, 105), (255, 205, 120)), "low_sun")
_DESERT = _hint(((222, 172, 102), (242, 205, 145), (175, 105, 62)), "dunes")
_SNOW = _hint(((236, 240, 250), (165, 198, 232), (95, 125, 175)), "snow", "mountains")
_FIRE = _hint(((242, 92, 22), (252, 192, 52), (70, 14, 12)), "glow")
_CITY = _hint(((40, 36, 80), (238, 82, 182), (62, 202, 232)), "skyline")
_MOUNTAIN = _hint(((112, 122, 152), (202, 212, 232), (72, 82, 102)), "mountains")
_CLOUDS = _hint(((122, 172, 232), (236, 241, 250), (182, 202, 232)), "clouds")
_AUTUMN = _hint(((212, 102, 32), (182, 52, 32), (242, 182, 72)), "trees")

_SCENES: tuple[tuple[str, _Hint], ...] = (
    ("forest forests jungle woods trees tree woodland pine", _FOREST),
    ("ocean sea lake river beach water bay", _OCEAN),
    ("night space galaxy stars moon midnight", _NIGHT),
    ("sunset sunrise dusk dawn twilight", _SUNSET),
    ("desert dune dunes sand sahara", _DESERT),
    ("snow snowy winter ice icy arctic frozen glacier", _SNOW),
    ("fire lava volcano flame flames inferno", _FIRE),
    ("city cyberpunk neon urban street skyline", _CITY),
    ("mountain mountains peak peaks alps hills rocky", _MOUNTAIN),
    ("cloud clouds cloudy sky storm stormy", _CLOUDS),
    ("autumn fall harvest", _AUTUMN),
)
SCENE_WORDS: dict[str, _Hint] = {w: hint for words, hint in _SCENES for w in words.split()}

STOPWORDS = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "by", "with", "and", "or", "to", "from", "for",
    "into", "over", "under", "is", "are", "very", "highly", "best", "quality", "masterpiece",
    "detailed", "photo", "photograph", "image", "picture", "art", "style", "render",
    "realistic", "hd", "k",
})


@dataclass(frozen=True)
class Scene:
    """Everything the renderer needs, derived from the prompt and seed."""

    sky_top: RGB
    sky_bottom: RGB
    sun: RGB
    land: tuple[RGB, RGB, RGB, RGB]  # far -> near
    accent: RGB
    subject: RGB
    features: frozenset[str]
    subject_shape: str | None  # "orb", "ring", "diamond" or None
    layout_seed: int  # seeds the composition (content words + seed)
    detail_seed: int = field(default=0)  # seeds fine detail (seed only)


def stable_hash(*parts: object) -> int:
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def shade(c: RGB, f: float) -> RGB:
    return (c[0] * f, c[1] * f, c[2] * f)


def tint(c: RGB, t: float) -> RGB:
    return mix(c, (1.0, 1.0, 1.0), t)


def hue_shift(c: RGB, dh: float, sat: float = 1.0, val: float = 1.0) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(*c)
    return colorsys.hsv_to_rgb((h + dh) % 1.0, min(1.0, s * sat), min(1.0, v * val))


def analyse(prompt: str, seed: int, negative: str = "") -> Scene:
    words = _WORD.findall(prompt.lower())
    banned = set(_WORD.findall(negative.lower()))
    colours = [COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS and w not in banned]
    hints = [SCENE_WORDS[w] for w in words if w in SCENE_WORDS and w not in banned]
    content = [
        w for w in words if w not in COLOUR_WORDS and w not in SCENE_WORDS and w not in STOPWORDS
    ]
    layout_seed = stable_hash("layout", " ".join(sorted(set(content))), seed)
    jitter = (stable_hash("jitter", seed) % 1000) / 1000.0 - 0.5  # -0.5..0.5

    features: set[str] = set().union(*(h.features for h in hints)) if hints else set()
    if not features & {"trees", "dunes", "mountains", "skyline", "water"}:
        features.add(("mountains", "dunes", "hills")[layout_seed % 3])
    features -= banned

    scene_cols = [c for h in hints for c in h.colours]
    cols = colours + scene_cols
    if not cols:  # no colour or scene words: a harmony from the prompt's hash
        hue = (stable_hash("hue", prompt) % 997) / 997.0
        cols = [colorsys.hsv_to_rgb(hue, 0.6, 0.85), colorsys.hsv_to_rgb(hue + 0.08, 0.5, 0.6),
                colorsys.hsv_to_rgb(hue - 0.1, 0.3, 0.95)]
    cols = [hue_shift(c, 0.025 * jitter) for c in cols]
    primary = cols[0]
    secondary = cols[1] if len(cols) > 1 else hue_shift(primary, 0.06, 0.9, 0.7)
    light = cols[2] if len(cols) > 2 else tint(primary, 0.55)

    sky_top = mix(shade(primary, 0.6), secondary, 0.3)
    sky_bottom = tint(mix(primary, light, 0.5), 0.35)
    sun = tint(light, 0.6)
    land = (
        mix(sky_bottom, secondary, 0.45),
        shade(mix(secondary, primary, 0.5), 0.8),
        shade(secondary, 0.55),
        shade(mix(primary, secondary, 0.3), 0.32),
    )
    if "night" in features:
        sky_top, sky_bottom = shade(sky_top, 0.3), shade(sky_bottom, 0.5)
        sun = (0.93, 0.93, 0.86)
        land = (shade(land[0], 0.5), shade(land[1], 0.45), shade(land[2], 0.4), shade(land[3], 0.4))
    if "snow" in features:
        land = (tint(land[0], 0.6), tint(land[1], 0.55), tint(land[2], 0.5), tint(land[3], 0.35))

    shape = None
    if content:
        shape = ("orb", "ring", "diamond", "orb")[stable_hash("shape", *sorted(content)) % 4]
    subject = colours[0] if colours else hue_shift(light, 0.5, 1.2)
    return Scene(
        sky_top=sky_top, sky_bottom=sky_bottom, sun=sun, land=land, accent=light,
        subject=subject, features=frozenset(features), subject_shape=shape,
        layout_seed=layout_seed, detail_seed=stable_hash("detail", seed),
    )

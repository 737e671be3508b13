"""Procedural image synthesis: a layered landscape painted from a ``Scene``.

All coordinates are relative (0..1) and all noise comes from small random grids that are
resampled to the output size, so a prompt looks the same at any resolution. ``render`` gives
a float32 array of shape (height, width, 3) in 0..1; a picture larger than ``WORK_PIXELS``
is composed at a smaller size of the same shape (``work_size``) and resampled up once
(``enlarge``), which is what keeps large previews fast.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from stationthis.engines.preview.imageio import to_image
from stationthis.engines.preview.palette import RGB, Scene

Array = np.ndarray
WORK_PIXELS = 384 * 384  # the most pixels a picture is composed at
UPSAMPLE = Image.Resampling.BICUBIC


def work_size(width: int, height: int) -> tuple[int, int]:
    """The size a ``width`` x ``height`` picture is composed at: the same shape, at most
    ``WORK_PIXELS`` pixels (small pictures are composed at their own size)."""
    scale = min(1.0, math.sqrt(WORK_PIXELS / (width * height)))
    return max(1, round(width * scale)), max(1, round(height * scale))


def enlarge(img: Image.Image, width: int, height: int) -> Image.Image:
    """``img`` resampled to ``width`` x ``height`` (itself when it already is that size)."""
    if img.size == (width, height):
        return img
    return img.resize((width, height), UPSAMPLE)


def picture(scene: Scene, width: int, height: int) -> Image.Image:
    """The plain picture of ``scene`` at ``width`` x ``height`` (no style, no label)."""
    return enlarge(to_image(render(scene, *work_size(width, height))), width, height)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> Array:
    """Value noise in 0..1: a random grid of about ``cells`` cells across, resampled smoothly."""
    aspect = width / height
    gw, gh = max(2, round(cells * max(aspect, 1.0))), max(2, round(cells / min(aspect, 1.0)))
    grid = rng.random((gh, gw), dtype=np.float32)
    img = Image.fromarray(grid, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def fbm(rng: np.random.Generator, height: int, width: int, base: int, octaves: int) -> Array:
    """Fractal noise: octaves of value noise, each twice as fine and half as strong."""
    total = np.zeros((height, width), np.float32)
    amp, norm = 1.0, 0.0
    for i in range(octaves):
        total += amp * smooth_noise(rng, height, width, base * 2**i)
        norm += amp
        amp *= 0.5
    return total / norm


def ridge(rng: np.random.Generator, width: int, base: int, octaves: int) -> Array:
    """A 1-D fractal profile across the width, 0..1."""
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)
    total = np.zeros(width, np.float32)
    amp, norm = 1.0, 0.0
    for i in range(octaves):
        cells = base * 2**i
        knots = rng.random(cells + 1).astype(np.float32)
        pos = xs * cells
        idx = np.minimum(pos.astype(int), cells - 1)
        frac = pos - idx
        frac = frac * frac * (3.0 - 2.0 * frac)  # smoothstep between knots
        total += amp * (knots[idx] + (knots[idx + 1] - knots[idx]) * frac)
        norm += amp
        amp *= 0.5
    return total / norm


def _col(c: RGB) -> Array:
    return np.asarray(c, np.float32)


def _over(img: Array, colour: Array, mask: Array, scratch: bool = False) -> None:
    """Paint ``colour`` (HxWx3 or 3) over ``img`` through ``mask`` (HxW), in place.

    Only the bounding box of the mask's non-zero part is touched, which keeps small shapes and
    low layers cheap. ``scratch``: ``colour`` is a temporary this may overwrite.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    part = img[box]
    if scratch and colour.ndim == 3:
        diff = np.subtract(colour[box], part, out=colour[box])
    else:
        diff = (colour[box] if colour.ndim == 3 else colour) - part
    diff *= mask[box][..., None]
    part += diff


def _span(coords: Array, lo: float, hi: float) -> slice:
    """The index range of sorted ``coords`` that lies within [lo, hi]."""
    return slice(int(np.searchsorted(coords, lo)), int(np.searchsorted(coords, hi, "right")))


def render(scene: Scene, width: int, height: int) -> Array:
    rng = np.random.default_rng(scene.layout_seed)
    detail = np.random.default_rng(scene.detail_seed)
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width
    feats = scene.features
    low_sun = "low_sun" in feats
    horizon = 0.62 if low_sun else 0.5 + 0.12 * float(rng.random())

    # Sky: a vertical gradient with a gentle curve, plus hazy stripes for some layouts.
    t = np.clip(ys / horizon, 0.0, 1.0) ** 0.8
    top, bottom = _col(scene.sky_top), _col(scene.sky_bottom)
    img = np.empty((height, width, 3), np.float32)
    img[:] = (top + (bottom - top) * t[:, None])[:, None, :]
    if rng.random() < 0.35:
        angle = float(rng.uniform(-0.6, 0.6))
        # sin(a + b) = sin a cos b + cos a sin b: two outer products instead of a 2-D sin.
        a, b = xs * (38.0 * np.sin(angle)), ys * (38.0 * np.cos(angle))
        wave = np.cos(b)[:, None] * np.sin(a)[None, :]
        wave += np.sin(b)[:, None] * np.cos(a)[None, :]
        wave *= 0.035
        wave += 1.0
        img *= wave[..., None]

    if "stars" in feats:
        n = 220
        sx = (detail.random(n) * width).astype(int)
        sy = (detail.random(n) * horizon * height).astype(int)
        bright = detail.random(n).astype(np.float32) ** 2 * 0.8 + 0.2
        img[sy, sx] = np.maximum(img[sy, sx], bright[:, None])

    cx = float(rng.uniform(0.2, 0.8))
    cy = horizon - 0.05 if low_sun else float(rng.uniform(0.12, horizon - 0.15))
    r = float(rng.uniform(0.06, 0.11)) * (1.6 if low_sun else 1.0)
    _disc(img, xs, ys, (cx, cy), r, _col(scene.sun), 0.6 if low_sun else 0.36, "orb", flat=True)

    if "clouds" in feats or rng.random() < 0.5:
        rows = _span(ys, 0.0, horizon)
        clouds = fbm(rng, rows.stop, width, 3, 4)
        band = np.exp(-(((ys[rows] - horizon * 0.45) / (horizon * 0.35)) ** 2))[:, None]
        cover = np.clip((clouds - 0.48) * 3.0, 0.0, 1.0) * band
        _over(img[rows], _col(scene.accent) * 0.5 + 0.5, cover * 0.7)

    if "glow" in feats:
        heat = np.exp(-(((1.0 - ys) / 0.45) ** 2))[:, None] * fbm(rng, height, width, 4, 3)
        _over(img, _col(scene.accent), np.clip(heat * 1.2, 0.0, 1.0))

    _paint_land(img, scene, rng, xs, ys, horizon)
    if scene.subject_shape is not None:
        subject_x = (1.0 / 3.0, 2.0 / 3.0, 0.5)[int(rng.integers(3))]
        centre = (subject_x, min(0.82, horizon + 0.12))
        _disc(img, xs, ys, centre, float(rng.uniform(0.09, 0.15)), _col(scene.subject), 0.55,
              scene.subject_shape)

    # Finish: a soft vignette and fine, seed-dependent texture.
    vig = 1.0 - 0.28 * (((xs - 0.5) * 1.4)[None, :] ** 2 + ((ys - 0.5) * 1.4)[:, None] ** 2)
    grain = 1.0 + 0.04 * (smooth_noise(detail, height, width, 96) - 0.5)
    img *= (vig * grain)[..., None]
    return np.clip(img, 0.0, 1.0, out=img)


def _disc(
    img: Array, xs: Array, ys: Array, centre: tuple[float, float], r: float, colour: Array,
    glow: float, shape: str, flat: bool = False,
) -> None:
    """A glowing orb, ring or diamond (a sun, moon or subject), drawn in its bounding box.

    ``r`` is a fraction of the shorter side, so portrait images get proportionate discs.
    """
    height, width = img.shape[:2]
    aspect, px = width / height, 1.0 / height
    r *= min(1.0, aspect)
    cx, cy = centre
    reach = r * 6.0
    rows = _span(ys, cy - reach, cy + reach)
    cols = _span(xs, cx - reach / aspect, cx + reach / aspect)
    dx = np.abs(xs[cols] - cx)[None, :] * aspect
    dy = (ys[rows] - cy)[:, None]
    spread = r * 2.4
    if shape == "diamond":
        dist = (dx + np.abs(dy)) * 0.8
        halo = np.exp(-((dist / spread) ** 2)) * glow
    else:  # a round glow is separable: one outer product instead of a 2-D exp
        dist = np.sqrt(dx**2 + dy**2)
        halo = np.exp(-((dy / spread) ** 2)) * (np.exp(-((dx / spread) ** 2)) * glow)
    edge = np.clip((r - dist) / (1.5 * px), 0.0, 1.0)
    if shape == "ring":
        edge *= np.clip((dist - r * 0.62) / (1.5 * px), 0.0, 1.0)
    if flat:  # the halo and the disc in one pass: the same colour through both masks
        halo += edge * (1.0 - halo)
        _over(img[rows, cols], colour, halo)
        return
    _over(img[rows, cols], colour, halo)
    light = (1.1 - 0.45 * np.clip(dy / r + 0.3, 0.0, 1.3)) * (1.0 - 0.2 * np.clip(dist / r, 0, 1))
    _over(img[rows, cols], np.clip(colour * light[..., None], 0.0, 1.0), edge)


def _paint_land(
    img: Array, scene: Scene, rng: np.random.Generator, xs: Array, ys: Array, horizon: float
) -> None:
    height, width = img.shape[:2]
    px = 1.0 / height
    feats = scene.features
    water = "water" in feats
    texture = fbm(rng, height, width, 6, 4) - 0.5
    layers = 1 if water else 4
    for i in range(layers):
        base = horizon + i * 0.09
        if "mountains" in feats:
            amp, prof = (0.28 - 0.05 * i), np.abs(ridge(rng, width, 3 + i, 5) - 0.5) * 2.0
        elif "dunes" in feats:
            amp, prof = 0.08, ridge(rng, width, 2 + i, 2)
        else:
            amp, prof = (0.12 - 0.015 * i), ridge(rng, width, 3 + i, 4)
        if water:
            amp *= 0.4
        top = base - amp * prof
        if "trees" in feats:
            cells = 24 + 12 * i
            tri = 1.0 - np.abs(((xs * cells) % 1.0) * 2.0 - 1.0)
            tall = rng.random(cells + 1).astype(np.float32)[(xs * cells).astype(int)]
            top = top - tri**1.5 * (0.03 + 0.05 * tall) * (1.0 + 0.35 * i)
        if "skyline" in feats and i == 1:
            top = _skyline(rng, xs, base)
        rows = _span(ys, float(top.min()) - 2 * px, 1.0)
        mask = np.clip((ys[rows, None] - top[None, :]) / (1.5 * px), 0.0, 1.0)
        colour = _col(scene.land[min(3, i + (4 - layers))])
        depth = np.clip(ys[rows] - base, 0.0, 1.0)[:, None]
        shade = 1.0 + (0.35 + 0.1 * i) * texture[rows] - 0.25 * depth
        _over(img[rows], colour * shade[..., None], mask, scratch=True)
        if "skyline" in feats and i == 1:
            _windows(img[rows], scene, rng, xs, ys[rows], mask)
    if water:
        _paint_water(img, scene, rng, horizon + 0.012)


def _skyline(rng: np.random.Generator, xs: Array, base: float) -> Array:
    edges = np.cumsum(rng.uniform(0.03, 0.09, 40))
    heights = rng.uniform(0.08, 0.34, 41).astype(np.float32)
    return base - heights[np.searchsorted(edges, xs)]


def _windows(
    img: Array, scene: Scene, rng: np.random.Generator, xs: Array, ys: Array, mask: Array
) -> None:
    cols, rows = (xs * 90).astype(int), (ys * 90).astype(int)
    lit = rng.random((91, 91)) < 0.3
    on = lit[rows[:, None], cols[None, :]] & ((xs * 90) % 1.0 < 0.5)[None, :]
    on &= ((ys * 90) % 1.0 < 0.55)[:, None] & (mask > 0.99)
    _over(img, _col(scene.accent), on.astype(np.float32) * 0.8)


def _paint_water(img: Array, scene: Scene, rng: np.random.Generator, line: float) -> None:
    """A mirror of the scene above the water line, darkened, with horizontal ripples."""
    height, width = img.shape[:2]
    start = min(height - 1, int(line * height))
    rows = np.arange(start, height)
    src = np.clip(2 * start - rows, 0, height - 1)
    grid = rng.random((48, 4), dtype=np.float32)
    size = (width, height - start)
    streaks = np.asarray(Image.fromarray(grid, mode="F").resize(size, Image.Resampling.BICUBIC))
    ripple = np.clip(streaks * 1.6 - 0.3, 0.0, 1.2)[:, :, None]
    tone = _col(scene.land[0]) * 0.4 + 0.6 * _col(scene.sky_top)
    img[start:] = (img[src] * 0.6 + tone * 0.4) * (0.78 + 0.3 * ripple)

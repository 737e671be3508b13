"""The preview engine's describer: 3–4 prompts from what an image really shows — its colours,
light, colourfulness, texture and composition (where the light and the colour sit; sky over
ground) — worded as prompts someone could run. No AI model: plain image statistics, the same
measurements as the caption (caption.py), so a different picture gives different prompts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from stationthis.engines.preview.caption import _name
from stationthis.engines.preview.style import measure

SIZE = 96


@dataclass(frozen=True)
class Look:
    colours: list[str]  # dominant colour names, most first
    light: str  # dark | mid-toned | bright
    vivid: str  # vivid | muted | ""
    detailed: bool
    shape: str  # wide | tall | square
    focus: str  # where the brightest part is: left, right, top, bottom, centre
    scene: str  # a guess from the layout of the colours, "" when nothing fits


def look(img: Image.Image) -> Look:
    stats = measure(img)
    counts: dict[str, int] = {}
    for pixel in stats.samples:
        name = _name(pixel)
        counts[name] = counts.get(name, 0) + 1
    ranked = [n for n, c in sorted(counts.items(), key=lambda kv: -kv[1])
              if c >= 0.08 * len(stats.samples)][:3] or ["grey"]
    small = np.asarray(img.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BOX),
                       np.float32) / 255.0
    lum = small @ np.array([0.299, 0.587, 0.114], np.float32)
    third = SIZE // 3
    regions = {
        "left": lum[:, :third].mean(), "right": lum[:, -third:].mean(),
        "top": lum[:third].mean(), "bottom": lum[-third:].mean(),
        "centre": lum[third:-third, third:-third].mean(),
    }
    brightest = max(regions, key=lambda k: regions[k])
    spread = max(regions.values()) - min(regions.values())
    focus = brightest if spread > 0.06 else "centre"
    top = _name(small[:third].reshape(-1, 3).mean(axis=0))
    bottom = _name(small[-third:].reshape(-1, 3).mean(axis=0))
    light = "dark" if stats.lum[0] < 0.3 else "bright" if stats.lum[0] > 0.7 else "mid-toned"
    return Look(
        colours=ranked, light=light,
        vivid="vivid" if stats.sat[0] > 0.45 else "muted" if stats.sat[0] < 0.15 else "",
        detailed=stats.grad[0] > 0.08,
        shape=("wide" if img.width > img.height * 1.2
               else "tall" if img.height > img.width * 1.2 else "square"),
        focus=focus, scene=_scene(top, bottom, light, regions, spread),
    )


def _scene(top: str, bottom: str, light: str, regions: dict[str, float],
           spread: float) -> str:
    if top in ("blue", "teal", "white") and bottom in ("green", "brown"):
        return "a landscape, sky over green land"
    if top in ("blue", "teal") and bottom in ("yellow", "orange", "brown"):
        return "a sunny shore, sky over sand"
    if top in ("orange", "pink", "red", "yellow") and light != "bright":
        return "a sunset sky over a dark horizon"
    if light == "dark" and spread > 0.15:
        glow = max(regions, key=lambda k: regions[k])
        return f"a night scene with a glowing light at the {glow}"
    if top == bottom and spread < 0.05:
        return f"a calm, even field of {top}"
    return ""


def prompts(img: Image.Image) -> list[str]:
    """Three or four different prompts for the picture, most literal first."""
    seen = look(img)
    colours = " and ".join(seen.colours[:2])
    palette = ", ".join(seen.colours)
    light_words = {"dark": "low-key, moody lighting", "bright": "high-key, airy lighting",
                   "mid-toned": "soft natural lighting"}[seen.light]
    texture = "intricate fine detail" if seen.detailed else "smooth simple shapes"
    where = "centred composition" if seen.focus == "centre" else (
        f"the light falling on the {seen.focus}")
    frame = {"wide": "wide shot", "tall": "tall portrait framing", "square": "square frame"}
    adjectives = " ".join(w for w in (seen.light, seen.vivid) if w)
    subject = seen.scene or f"a {adjectives} scene in {colours}"
    out = [
        f"{subject}, {where}, {frame[seen.shape]}, {light_words}",
        f"a photograph of {subject}, {colours} tones, {texture}, {light_words}",
        f"a {seen.vivid or 'soft'} illustration of {subject}, {palette} palette, {texture}",
    ]
    if seen.colours[0] != seen.colours[-1] or seen.scene:
        out.append(f"an abstract painting in {palette}, {seen.light} mood, "
                   f"{'bold brushwork' if seen.detailed else 'flat colour fields'}")
    return [" ".join(p.split()) for p in dict.fromkeys(out)]

"""Reference images on the preview engine: an honest procedural stand-in for ControlNet.

The reference is brought to the result's size and preprocessed as the ComfyUI graph does it:

- ``canny`` (and ``pose``, which the preview engine cannot detect: it uses edges too): an
  edge map (Sobel magnitude with ComfyUI's low/high thresholds, weak edges kept only next to
  strong ones) inked into the procedural picture of the prompt, ``strength`` setting how dark;
- ``depth``: the reference's blurred brightness as a stand-in depth map, shading the picture
  (near = lighter, far = darker);
- ``style``: the picture's colours moved toward the reference's (mean and spread per channel).

No model follows anything here, and the PNG says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from stationthis.core.engine import JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview import imageio
from stationthis.engines.preview.palette import analyse, stable_hash
from stationthis.engines.preview.params import MAX_SIDE, float_param, int_param
from stationthis.engines.preview.render import picture

Array = np.ndarray
MODES = ("canny", "pose", "depth", "style")
# The node class in a reference graph that says which preprocessing it does.
_MODE_OF_NODE = {"Canny": "canny", "DWPreprocessor": "pose", "OpenposePreprocessor": "pose",
                 "DepthAnythingPreprocessor": "depth", "MiDaS-DepthMapPreprocessor": "depth",
                 "StyleModelApply": "style", "unCLIPConditioning": "style"}
NOTES = {
    "canny": "the reference's canny edges inked over a procedural picture of the prompt "
             "(preview engine, not a ControlNet)",
    "pose": "no pose detection on the preview engine: the reference's edges inked over a "
            "procedural picture of the prompt (not a ControlNet)",
    "depth": "the reference's blurred brightness as a stand-in depth map shading a procedural "
             "picture of the prompt (preview engine, not a ControlNet)",
    "style": "a procedural picture of the prompt in the reference's colours "
             "(preview engine, not a style model)",
}


def mode_of(job: JobSpec) -> str:
    """Which preprocessing a reference job asks for: from its graph, else its tool's name."""
    for node in (job.graph or {}).values():
        found = _MODE_OF_NODE.get(str(node.get("class_type")))
        if found:
            return found
    return next((m for m in MODES if job.tool.endswith(m)), "canny")


def edges(img: Image.Image, low: float, high: float) -> Array:
    """An edge map in 0..1 (1: an edge), as ComfyUI's ``Canny`` thresholds it."""
    grey = np.asarray(img.convert("L").filter(ImageFilter.GaussianBlur(1.0)),
                      dtype=np.float32) / 255.0
    gx = np.zeros_like(grey)
    gy = np.zeros_like(grey)
    gx[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
    gy[1:-1, :] = grey[2:, :] - grey[:-2, :]
    magnitude = np.hypot(gx, gy)
    top = float(magnitude.max())
    if top <= 1e-6:
        return np.zeros_like(grey)  # a flat reference has no edges
    magnitude /= top
    strong = magnitude >= high
    weak = magnitude >= low
    near_strong = np.asarray(Image.fromarray(strong.astype(np.uint8) * 255)
                             .filter(ImageFilter.MaxFilter(3))) > 0
    result: Array = (strong | (weak & near_strong)).astype(np.float32)
    return result


def guided(reference: Image.Image, mode: str, prompt: str, seed: int, strength: float,
           low: float, high: float) -> Image.Image:
    """The picture of ``prompt`` at the reference's size, guided by the reference."""
    width, height = reference.size
    scene = imageio.to_array(picture(analyse(prompt, seed), width, height)).astype(np.float32)
    weight = min(1.0, strength)
    if mode in ("canny", "pose"):
        ink = edges(reference, low, high)[..., None]
        out = scene * (1.0 - 0.85 * weight * ink)
    elif mode == "depth":
        depth = np.asarray(reference.convert("L").filter(ImageFilter.GaussianBlur(
            max(2.0, min(width, height) / 48))), dtype=np.float32)[..., None] / 255.0
        out = scene * (1.0 - weight * 0.7 * (1.0 - depth)) + 40.0 * weight * depth
    else:  # style: the reference's colour statistics
        ref = imageio.to_array(reference.convert("RGB")).astype(np.float32)
        mean, spread = scene.mean(axis=(0, 1)), scene.std(axis=(0, 1)) + 1e-3
        moved = (scene - mean) / spread * ref.std(axis=(0, 1)) + ref.mean(axis=(0, 1))
        out = scene * (1.0 - weight) + moved * weight
    return imageio.to_image(np.clip(out, 0, 255))


def reference_png(job: JobSpec, img: Image.Image) -> bytes:
    mode = mode_of(job)
    width = int_param(job.params, "width", img.width, 16, MAX_SIDE)
    height = int_param(job.params, "height", img.height, 16, MAX_SIDE)
    imageio.check_size(width, height)
    prompt = str(job.params.get("prompt") or "")
    if not prompt.strip():
        raise EngineFailed("a reference image needs a prompt: what to draw")
    seed = int_param(job.params, "seed", stable_hash("seed", job.job_id) % 2**32, 0, 2**64 - 1)
    strength = float_param(job.params, "strength", 0.8, 0.0, 10.0)
    low = float_param(job.params, "low_threshold", 0.4, 0.01, 0.99)
    high = float_param(job.params, "high_threshold", 0.8, 0.01, 0.99)
    source = img.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    out = guided(source, mode, prompt, seed, strength, min(low, high), max(low, high))
    meta: dict[str, Any] = {"tool": job.tool, "prompt": prompt, "seed": seed, "mode": mode,
                            "strength": strength, "width": width, "height": height}
    return imageio.encode_png(out, meta, note=NOTES[mode])

"""Outpaint ("zoom out") on the preview engine: real padding, an honest fill.

The image is put on a larger canvas (``left``/``top``/``right``/``bottom`` pixels added, as
ComfyUI's ``ImagePadForOutpaint`` takes them). The new border is the image mirrored outward
and softened, fading with the distance from the image into the procedural picture of the
prompt; the original pixels are kept exactly. No model invents anything here, and the PNG
says so.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from stationthis.core.engine import JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview import imageio
from stationthis.engines.preview.palette import analyse, stable_hash
from stationthis.engines.preview.params import MAX_SIDE, int_param
from stationthis.engines.preview.render import picture

Array = np.ndarray
SIDES = ("left", "top", "right", "bottom")
NOTE = ("border: the image mirrored outward, fading into a procedural picture of the prompt "
        "(preview engine, not an AI outpaint)")


def pads(job: JobSpec) -> tuple[int, int, int, int]:
    """The pixels added on each side (at least one side must grow)."""
    left, top, right, bottom = (int_param(job.params, side, 0, 0, MAX_SIDE) for side in SIDES)
    if not left + top + right + bottom:
        raise EngineFailed("outpaint needs a border: left, top, right or bottom above 0")
    return left, top, right, bottom


def outpaint(img: Image.Image, border: tuple[int, int, int, int], prompt: str,
             seed: int) -> Image.Image:
    """``img`` on a canvas grown by ``border`` (left, top, right, bottom)."""
    left, top, right, bottom = border
    width, height = img.width + left + right, img.height + top + bottom
    imageio.check_size(width, height)
    source = imageio.to_array(img)
    mirrored = np.pad(source, ((top, bottom), (left, right), (0, 0)), mode="symmetric")
    soft = imageio.to_array(imageio.to_image(mirrored).filter(
        ImageFilter.GaussianBlur(max(1.0, min(img.size) / 64))))
    scene = imageio.to_array(picture(analyse(prompt, seed), width, height))
    distance = _distance_outside(width, height, border)
    reach = max(1.0, 0.5 * max(border))  # where the fill is all scene
    fade = np.clip(distance / reach, 0.0, 1.0)[..., None]
    out = soft * (1.0 - fade) + scene * fade
    out[top:top + img.height, left:left + img.width] = source
    result = imageio.to_image(out)
    if img.mode == "RGBA":  # transparency stays where it was; the border is opaque
        alpha = Image.new("L", (width, height), 255)
        alpha.paste(img.getchannel("A"), (left, top))
        result.putalpha(alpha)
    return result


def _distance_outside(width: int, height: int, border: tuple[int, int, int, int]) -> Array:
    """Per pixel, how far outside the original image's rectangle it lies (0 inside)."""
    left, top, right, bottom = border
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    dx = np.maximum(np.maximum(left - xs, xs - (width - right - 1)), 0.0)
    dy = np.maximum(np.maximum(top - ys, ys - (height - bottom - 1)), 0.0)
    distance: Array = np.hypot(dx[None, :], dy[:, None])
    return distance


def outpaint_png(job: JobSpec, img: Image.Image) -> bytes:
    border = pads(job)
    prompt = str(job.params.get("prompt") or "")
    seed = int_param(job.params, "seed", stable_hash("seed", job.job_id) % 2**32, 0, 2**64 - 1)
    out = outpaint(img, border, prompt, seed)
    meta = {"tool": job.tool, "prompt": prompt, "seed": seed, "width": out.width,
            "height": out.height, **dict(zip(SIDES, border, strict=True))}
    return imageio.encode_png(out, meta, note=NOTE)

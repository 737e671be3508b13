"""Inpaint ("vary region") on the preview engine: only the masked region changes.

The mask (white = repaint, the rule of ``core/masks.py``) is made binary, then feathered
inward: its edge fades over a few pixels *inside* the marked region, so every pixel the mask
leaves black is kept exactly. Inside, the procedural picture of the prompt is laid over the
image, tinted a little with the image's own blurred colours so the patch sits in it. No model
invents anything here, and the PNG says so.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from stationthis.core import masks
from stationthis.core.engine import JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.preview import imageio
from stationthis.engines.preview.palette import analyse, stable_hash
from stationthis.engines.preview.params import int_param
from stationthis.engines.preview.render import picture

NOTE = ("masked region: a procedural picture of the prompt blended in with a feathered edge; "
        "pixels outside the mask kept exactly (preview engine, not an AI inpaint)")
OWN_COLOUR = 0.25  # how much of the image's blurred colour the repainted region keeps
EDGE = 0.3  # the repaint's strength just inside the mask's border (thin strokes still show)


def feathered(mask: Image.Image, grow: int) -> np.ndarray:
    """Per pixel, how much is repainted (0..1): 0 wherever the mask is black; inside the
    marked region from ``EDGE`` at its border up to 1 about ``grow`` / 2 pixels in."""
    sharp = masks.binary(mask)
    hard = np.asarray(sharp, dtype=np.float32) / 255.0
    if grow <= 0:
        return hard
    soft = np.asarray(sharp.filter(ImageFilter.GaussianBlur(grow / 2)), dtype=np.float32) / 255.0
    depth = np.clip((soft - 0.5) * 2.0, 0.0, 1.0)  # 0 at the border, 1 well inside
    weight: np.ndarray = hard * (EDGE + (1.0 - EDGE) * depth)
    return weight


def inpaint(img: Image.Image, mask: Image.Image, prompt: str, seed: int,
            grow: int = 6) -> Image.Image:
    """``img`` with the region ``mask`` marks repainted from ``prompt``."""
    problem = masks.size_refusal(img.size, mask.size)
    if problem:
        raise EngineFailed(problem)
    weight = feathered(mask, grow)
    if not weight.any():
        raise EngineFailed(masks.EMPTY)
    source = imageio.to_array(img)
    scene = imageio.to_array(picture(analyse(prompt, seed), img.width, img.height))
    own = imageio.to_array(img.convert("RGB").filter(
        ImageFilter.GaussianBlur(max(2.0, min(img.size) / 16))))
    patch = scene * (1.0 - OWN_COLOUR) + own * OWN_COLOUR
    alpha = weight[..., None]
    out = source * (1.0 - alpha) + patch * alpha
    keep = weight == 0.0
    out[keep] = source[keep]  # bit for bit, whatever the float arithmetic did
    result = imageio.to_image(out)
    if img.mode == "RGBA":  # the repainted region is opaque; transparency elsewhere stays
        alpha_in = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
        new_alpha = np.where(keep, alpha_in, np.maximum(alpha_in, weight))
        result.putalpha(Image.fromarray(np.clip(new_alpha * 255 + 0.5, 0, 255).astype(np.uint8)))
    return result


def inpaint_png(job: JobSpec, img: Image.Image) -> bytes:
    given = job.images.get(masks.MASK_INPUT)
    if given is None:
        raise EngineFailed("inpaint needs a mask: an image of the same size, white where to "
                           "repaint")
    mask = imageio.decode(given.data, what="mask")
    prompt = str(job.params.get("prompt") or "")
    seed = int_param(job.params, "seed", stable_hash("seed", job.job_id) % 2**32, 0, 2**64 - 1)
    grow = int_param(job.params, "grow", 6, 0, 64)
    out = inpaint(img, mask, prompt, seed, grow)
    meta = {"tool": job.tool, "prompt": prompt, "seed": seed, "width": out.width,
            "height": out.height, "grow": grow}
    return imageio.encode_png(out, meta, note=NOTE)

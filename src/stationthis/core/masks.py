"""Inpainting masks: what a mask marks, and the refusals a user gets before anything is held.

A mask is an image of the same size as the image it belongs to: white (or any light pixel,
value ≥ 128 of 255) marks the region to repaint, black keeps. A mask with transparency counts
its transparent pixels as black, so a brush stroke on a transparent layer works too. The one
rule is written here and used by the workflow (to refuse a bad mask for free) and by the
preview engine (to repaint exactly what was marked).
"""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from stationthis.core.errors import InvalidInput
from stationthis.core.media import MediaService

THRESHOLD = 128  # a mask pixel at or above this (0-255) is repainted; JPEG noise stays below
MASK_INPUT = "mask"  # the name of an inpaint tool's mask input


def levels(img: Image.Image) -> Image.Image:
    """The mask's grey levels ("L"), transparent pixels as black."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        grey = rgba.convert("L")
        return Image.composite(grey, Image.new("L", img.size, 0), rgba.getchannel("A"))
    return img.convert("L")


def binary(img: Image.Image) -> Image.Image:
    """The mask as "L" with 255 where to repaint and 0 where to keep."""
    return levels(img).point(lambda v: 255 if v >= THRESHOLD else 0)


def marked_fraction(img: Image.Image) -> float:
    """The share of the mask's pixels that are repainted (0..1)."""
    hist = binary(img).histogram()
    total = img.width * img.height
    return hist[255] / total if total else 0.0


def size_refusal(image: tuple[int, int], mask: tuple[int, int]) -> str | None:
    if image == mask:
        return None
    return (f"the mask is {mask[0]}×{mask[1]} but the image is {image[0]}×{image[1]}: "
            "paint the mask on the image itself, or send one of exactly its size")


EMPTY = ("the mask is empty (all black): paint the region to change in white, "
         "everything else black")


def check(image_size: tuple[int, int], mask_size: tuple[int, int], mask_data: bytes) -> float:
    """Refuse a mask of another size or one that marks nothing (``InvalidInput`` naming the
    ``mask`` input); return the share of the image it repaints."""
    problem = size_refusal(image_size, mask_size)
    if problem:
        raise InvalidInput(problem, input=MASK_INPUT)
    try:
        with Image.open(io.BytesIO(mask_data)) as opened:
            opened.load()
            fraction = marked_fraction(opened)
    except (OSError, ValueError) as exc:
        raise InvalidInput("the mask could not be read: send a PNG, JPEG or WEBP image",
                           input=MASK_INPUT) from exc
    if fraction == 0.0:
        raise InvalidInput(EMPTY, input=MASK_INPUT)
    return fraction


async def check_inputs(media: MediaService, inputs: dict[str, str]) -> float:
    """``check`` for an inpaint request's stored image and ``mask`` (input name → media id;
    the image is the other input)."""
    image = await media.get(next(v for k, v in inputs.items() if k != MASK_INPUT))
    mask = await media.get(inputs[MASK_INPUT])
    data = await media.read(mask)
    return await asyncio.to_thread(check, (image.width or 0, image.height or 0),
                                   (mask.width or 0, mask.height or 0), data)

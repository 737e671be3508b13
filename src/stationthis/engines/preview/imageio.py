"""Decoding inputs and encoding honest outputs (PNG text chunks and a "PREVIEW" label)."""

from __future__ import annotations

import io
import json
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin

from stationthis.core.errors import EngineFailed

ENGINE_KEY = "stationthis:engine"
NOTE = "procedural preview, not an AI model"
MAX_OUTPUT_PIXELS = 64_000_000  # the largest image this engine will produce


def decode(data: bytes, what: str = "input image") -> Image.Image:
    """Open an (already validated) image, apply its EXIF orientation, keep RGB or RGBA."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            img = ImageOps.exif_transpose(opened)
            img.load()
    except Exception as exc:  # the loader validated it, but stay safe
        raise EngineFailed(f"the {what} could not be read: {exc}") from exc
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")


def to_array(img: Image.Image) -> np.ndarray:
    """An RGB image as float32 0..1 (alpha dropped)."""
    return np.asarray(img.convert("RGB"), dtype=np.float32) * (1.0 / 255.0)


def to_image(arr: np.ndarray) -> Image.Image:
    """A float 0..1 HxWx3 (or x4) array as a Pillow image."""
    data = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(data, mode="RGBA" if data.shape[2] == 4 else "RGB")


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_label(img: Image.Image, text: str = "PREVIEW") -> Image.Image:
    """Draw a small, semi-transparent label in the bottom-right corner (in place)."""
    size = max(8, min(img.width, img.height) // 40)
    font = _font(size)
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    pad = max(2, size // 3)
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    if w + pad > img.width or h + pad > img.height:
        return img
    box = (img.width - w - pad, img.height - h - pad, img.width - pad, img.height - pad)
    corner = img.crop(box).convert("RGBA")
    overlay = Image.new("RGBA", corner.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=(0, 0, 0, 70))
    draw.text((pad - left, pad - top), text, font=font, fill=(255, 255, 255, 150))
    img.paste(Image.alpha_composite(corner, overlay).convert(img.mode), box[:2])
    return img


def encode_png(img: Image.Image, meta: dict[str, Any], note: str = NOTE) -> bytes:
    """PNG bytes carrying text chunks that say plainly where the image came from."""
    info = PngImagePlugin.PngInfo()
    info.add_text(ENGINE_KEY, "preview")
    info.add_text("stationthis:note", note)
    for key, value in meta.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        info.add_text(f"stationthis:{key}", text)
    info.add_text("Software", "StationThis preview engine")
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=3)
    return buf.getvalue()


def encode_preview_jpeg(img: Image.Image, max_side: int = 256) -> bytes:
    """A small, blurry 'work in progress' JPEG for preview events."""
    small = img.convert("RGB")
    small.thumbnail((48, 48), Image.Resampling.BILINEAR)
    scale = max_side / max(small.size)
    small = small.resize(
        (max(1, round(small.width * scale)), max(1, round(small.height * scale))),
        Image.Resampling.BICUBIC,
    )
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=70)
    return buf.getvalue()


def check_size(width: int, height: int) -> None:
    if width * height > MAX_OUTPUT_PIXELS:
        raise EngineFailed(
            f"the output would be {width}x{height}, larger than the preview engine's limit "
            f"of {MAX_OUTPUT_PIXELS // 1_000_000} megapixels"
        )

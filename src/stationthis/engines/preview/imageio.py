"""Decoding inputs and encoding honest outputs (PNG text chunks and a "PREVIEW" label)."""

from __future__ import annotations

import importlib
import io
import json
import struct
import zlib
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin

from stationthis.core.errors import EngineFailed

ENGINE_KEY = "stationthis:engine"
VERSION_KEY = "stationthis:engine_version"
# Bumped whenever the same prompt + seed would give different pixels, so every image (and a
# rerun of an old one) says which version of the engine painted it. 1: composed at full size;
# 2: composed at a small working size and resampled up once (Lanczos).
ENGINE_VERSION = "2"
NOTE = "procedural preview, not an AI model"
PNG_LEVEL = 1  # deflate level: fast; the "Up" row filter keeps files small on smooth images


def _load_isal() -> Any:
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:
        return None


_ISAL = _load_isal()  # ISA-L's deflate (the optional ``isal`` package): ~4x zlib's speed


def deflater() -> str:
    """Which deflate implementation PNGs are compressed with: "isal" or "zlib"."""
    return "zlib" if _ISAL is None else "isal"


def deflate(data: memoryview, level: int = PNG_LEVEL) -> bytes:
    """zlib-format compressed ``data``, with ISA-L when the ``isal`` package is installed (same
    format, files about as small, about four times faster), else with zlib's RLE strategy.
    Both release the GIL while they work."""
    if _ISAL is not None:
        return bytes(_ISAL.compress(data, min(level, 3)))
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return compressor.compress(data) + compressor.flush()
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
    text = {ENGINE_KEY: "preview", VERSION_KEY: ENGINE_VERSION, "stationthis:note": note}
    for key, value in meta.items():
        text[f"stationthis:{key}"] = value if isinstance(value, str) else json.dumps(
            value, sort_keys=True
        )
    text["Software"] = "StationThis preview engine"
    return write_png(img, text)


_COLOUR_TYPES = {"RGB": 2, "RGBA": 6, "L": 0, "LA": 4}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_png(img: Image.Image, text: dict[str, str], level: int = PNG_LEVEL) -> bytes:
    """A PNG of an 8-bit RGB, RGBA, L or LA image with ``text`` chunks, written directly.

    Every row uses the "Up" filter (a vectorised difference from the row above), then
    ``deflate`` at ``level``: several times faster than Pillow's per-row adaptive filter,
    with files about as small on this engine's smooth images. Both steps release the GIL, so
    two images encode on two cores at once. Other modes go through Pillow.
    """
    colour_type = _COLOUR_TYPES.get(img.mode)
    if colour_type is None:
        return _pillow_png(img, text, level)
    pixels = np.asarray(img)
    height, width = img.height, img.width
    rows = pixels.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # filter type "Up"
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8: wraps modulo 256
    idat = deflate(filtered.data, level)
    parts = [_PNG_SIGNATURE,
             _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    parts += [_text_chunk(key, value) for key, value in text.items()]
    parts += [_chunk(b"IDAT", idat), _chunk(b"IEND", b"")]
    return b"".join(parts)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind))
    )


def _text_chunk(key: str, value: str) -> bytes:
    """tEXt when the value is Latin-1 (as Pillow writes it), else an uncompressed iTXt."""
    name = key.encode("latin-1")
    try:
        return _chunk(b"tEXt", name + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", name + b"\0\0\0\0\0" + value.encode("utf-8"))


def _pillow_png(img: Image.Image, text: dict[str, str], level: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=level)
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

"""Images for the fake ComfyUI server: output PNGs, preview JPEGs and binary frames."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Mapping
from typing import Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

DEFAULT_SIZE = (64, 64)
PREVIEW_IMAGE = 1  # binary frame type: 4-byte format (1 JPEG, 2 PNG) + image bytes
PREVIEW_IMAGE_WITH_METADATA = 4  # 4-byte JSON length + JSON metadata + image bytes
FORMAT_JPEG, FORMAT_PNG = 1, 2


def colour_for(prompt_id: str) -> tuple[int, int, int]:
    """A solid colour that identifies the prompt that made an image."""
    digest = hashlib.sha256(prompt_id.encode()).digest()
    return digest[0], digest[1], digest[2]


def render_png(
    size: tuple[int, int], colour: tuple[int, int, int], text: Mapping[str, str]
) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def render_jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def preview_frame(image: bytes, image_format: int = FORMAT_JPEG) -> bytes:
    return struct.pack(">II", PREVIEW_IMAGE, image_format) + image


def preview_frame_with_metadata(image: bytes, metadata: Mapping[str, Any]) -> bytes:
    blob = json.dumps(dict(metadata)).encode()
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(blob)) + blob + image


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return None


def graph_image_size(graph: Mapping[str, Any], uploads: Mapping[str, bytes]) -> tuple[int, int]:
    """Output size: an EmptyImage/EmptyLatentImage's width×height, else a loaded image's size."""
    nodes = [node for node in graph.values() if isinstance(node, dict)]
    for node in nodes:
        inputs = node.get("inputs") or {}
        if node.get("class_type") in ("EmptyImage", "EmptyLatentImage"):
            width, height = inputs.get("width"), inputs.get("height")
            if isinstance(width, int) and isinstance(height, int):
                return width, height
    for node in nodes:
        if node.get("class_type") == "LoadImage":
            size = image_size(uploads.get(str((node.get("inputs") or {}).get("image")), b""))
            if size:
                return size
    return DEFAULT_SIZE

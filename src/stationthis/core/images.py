"""The one hardened image loader. Every image that enters the system goes through `load_image`.

Refusals are `InvalidImage` with a message a user can read as it is. The order of checks:

1. empty data, then more than ``max_bytes``;
2. ``Image.open`` restricted to PNG, JPEG and WEBP (anything else, and garbage, is refused);
   it reads the header only. Pillow's own decompression-bomb check runs here: its warning is
   turned into an error (see `_open`) and its error is refused;
3. the declared pixel count against ``max_pixels`` — still before any pixel data is decoded;
4. ``load()`` — truncated or corrupt data is refused (``LOAD_TRUNCATED_IMAGES`` stays off);
5. EXIF orientation applied, colours converted to sRGB when an ICC profile is embedded, mode
   converted to RGB (RGBA when the source has transparency), re-encoded as PNG without any
   metadata (no EXIF, XMP, ICC profile or text chunks survive).

Only the first frame of an animated PNG/WEBP or a multi-picture JPEG (MPO) is kept.

Images our own engines produce take a cheaper road, `check_output`: steps 1-3 (the header
only), the file's structure (PNG: every chunk's length and CRC, IHDR first, IDAT, IEND;
JPEG: its end marker; WEBP: the RIFF length), and no re-encode. Whatever it cannot vouch for
(another mode, a colour profile, an EXIF rotation, an animation) goes through `load_image`.
"""

from __future__ import annotations

import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from stationthis.core.errors import InvalidImage

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
PNG_MEDIA_TYPE = "image/png"
THUMBNAIL_MEDIA_TYPE = "image/jpeg"
THUMBNAIL_QUALITY = 85

_NOT_AN_IMAGE = "not a PNG, JPEG or WEBP image"
_CORRUPT = "the image data is truncated or corrupt"
# What Pillow raises on bad input (UnidentifiedImageError is an OSError).
_PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)
# `warnings.catch_warnings` swaps the process-wide filter list; this lock keeps our own
# concurrent callers (e.g. `asyncio.to_thread`) from restoring each other's filters. It is
# held only while Pillow reads the header, never while pixels are decoded.
_OPEN_LOCK = threading.Lock()
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class LoadedImage:
    data: bytes  # the re-encoded PNG, without metadata
    media_type: str  # always "image/png"
    width: int
    height: int
    source_format: str  # "PNG", "JPEG" or "WEBP"


def load_image(raw: bytes, *, max_pixels: int, max_bytes: int) -> LoadedImage:
    """Validate and re-encode an untrusted image; raise `InvalidImage` when it is refused.

    Pillow's global ``MAX_IMAGE_PIXELS`` (89.5 megapixels by default) is left as it is: images
    over it are refused as decompression bombs whatever ``max_pixels`` says.
    """
    _check_bytes(raw, max_bytes)

    with _open(raw, max_pixels) as img:
        _check_pixels(img, max_pixels)
        source_format = "JPEG" if img.format == "MPO" else str(img.format)
        try:
            img.load()
        except _PILLOW_ERRORS as exc:
            raise InvalidImage(_CORRUPT) from exc
        clean = _to_srgb(_upright(img))

    data = encode_png(clean)
    return LoadedImage(
        data=data,
        media_type=PNG_MEDIA_TYPE,
        width=clean.width,
        height=clean.height,
        source_format=source_format,
    )


@dataclass(frozen=True)
class CheckedOutput:
    """An engine's output that passed `check_output`: its bytes are stored as they are."""

    media_type: str
    width: int
    height: int
    source_format: str


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# Modes stored as they are; any other goes through the full loader (RGB/RGBA PNG out).
_PLAIN_MODES = {"PNG": ("RGB", "RGBA", "L", "LA", "P"), "JPEG": ("RGB", "L"),
                "WEBP": ("RGB", "RGBA")}
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def check_output(raw: bytes, *, max_pixels: int, max_bytes: int) -> CheckedOutput | None:
    """Check an image one of our engines made, without decoding its pixels; raise
    `InvalidImage` when it is refused, return None when only `load_image` can tell."""
    _check_bytes(raw, max_bytes)
    with _open(raw, max_pixels) as img:
        width, height = _check_pixels(img, max_pixels)
        fmt = str(img.format)
        try:
            plain = (
                img.mode in _PLAIN_MODES.get(fmt, ())
                and not getattr(img, "is_animated", False)
                and "icc_profile" not in img.info
                # EXIF rotation to apply? (a PNG's getexif() would decode it: see below)
                and (fmt == "PNG" or img.getexif().get(0x0112, 1) == 1)
            )
        except _PILLOW_ERRORS:
            plain = False
    if not plain:
        return None
    if fmt == "PNG" and any(kind in (b"eXIf", b"iCCP") for kind, _, _ in png_chunks(raw)):
        return None  # png_chunks raised if the file is truncated or damaged
    truncated = (
        (fmt == "JPEG" and not raw.rstrip(b"\x00").endswith(b"\xff\xd9"))
        or (fmt == "WEBP" and struct.unpack("<I", raw[4:8])[0] + 8 > len(raw))
    )
    if truncated:
        raise InvalidImage(_CORRUPT)
    return CheckedOutput(_MEDIA_TYPES[fmt], width, height, fmt)


def png_chunks(png: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, end)`` of every chunk up to IEND (``png[start:end]`` is the whole
    chunk: length, type, data, CRC). Raises `InvalidImage` unless the signature, every
    length and CRC, IHDR first, at least one IDAT and IEND all check out."""
    if not png.startswith(PNG_SIGNATURE):
        raise InvalidImage(_NOT_AN_IMAGE)
    chunks: list[tuple[bytes, int, int]] = []
    at = len(PNG_SIGNATURE)
    while True:
        if at + 12 > len(png):
            raise InvalidImage(_CORRUPT)
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        end = at + 12 + length
        if length > 0x7FFFFFFF or end > len(png):
            raise InvalidImage(_CORRUPT)
        (crc,) = struct.unpack(">I", png[end - 4 : end])
        if zlib.crc32(png[at + 4 : end - 4]) & 0xFFFFFFFF != crc:
            raise InvalidImage(_CORRUPT)
        chunks.append((kind, at, end))
        at = end
        if kind == b"IEND":
            break
    if chunks[0][0] != b"IHDR" or not any(kind == b"IDAT" for kind, _, _ in chunks):
        raise InvalidImage(_CORRUPT)
    return chunks


def png_with_text(png: bytes, text: dict[str, str]) -> bytes:
    """The PNG with ``text`` as iTXt chunks before IEND, by splicing bytes (no re-encode).

    Text chunks already there are dropped, except ``stationthis:`` ones that ``text`` does not
    replace: an engine's own label survives, a workflow a server embedded (ComfyUI's
    ``prompt`` and ``workflow``) does not, as with `load_image`. Anything after IEND goes."""
    kept: list[bytes] = []
    for kind, start, end in png_chunks(png):
        if kind == b"IEND":
            kept.append(b"".join(_itxt(key, value) for key, value in text.items()))
        elif kind in _TEXT_CHUNKS:
            key = png[start + 8 : start + 8 + 80].split(b"\x00", 1)[0].decode("latin-1")
            if not key.startswith("stationthis:") or key in text:
                continue
        kept.append(png[start:end])
    return PNG_SIGNATURE + b"".join(kept)


def _itxt(key: str, value: str) -> bytes:
    body = key.encode("latin-1")[:79] + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")
    return (struct.pack(">I", len(body)) + b"iTXt" + body
            + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF))


def thumbnail(png: bytes, size: int) -> bytes:
    """A JPEG (quality 85) that fits in ``size``×``size``, keeping the aspect ratio.

    Images already smaller are not enlarged. Transparency is flattened onto white. JPEG rather
    than WEBP because every client (Telegram, Discord, mail, old browsers) shows it. The input
    is normally `LoadedImage.data`; any format `load_image` accepts is read.
    """
    if size < 1:
        raise ValueError(f"thumbnail size must be at least 1, not {size}")
    with _open(png, None) as img:
        try:
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
        except _PILLOW_ERRORS as exc:
            raise InvalidImage(_CORRUPT) from exc
        if img.mode in ("RGBA", "LA", "PA") or img.has_transparency_data:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat = Image.alpha_composite(white, rgba).convert("RGB")
        else:
            flat = img.convert("RGB")
    buf = BytesIO()
    flat.save(buf, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buf.getvalue()


def encode_png(img: Image.Image, text: dict[str, str] | None = None) -> bytes:
    """Encode ``img`` as PNG with the given text chunks and no other metadata.

    The ICC profile Pillow would copy from ``img.info`` is left out: pixels are taken as sRGB.
    Values that are not Latin-1 are written as iTXt (UTF-8) chunks by Pillow.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buf = BytesIO()
    img.save(buf, format="PNG", pnginfo=info, icc_profile=None)
    return buf.getvalue()


def _open(raw: bytes, max_pixels: int | None) -> Image.Image:
    """Read the header only, refusing other formats and decompression bombs.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and raises above twice that; here both
    refuse the image.
    """
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(BytesIO(raw), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombWarning as exc:
        raise InvalidImage(_bomb_message(Image.MAX_IMAGE_PIXELS or 0, max_pixels)) from exc
    except Image.DecompressionBombError as exc:
        raise InvalidImage(_bomb_message(2 * (Image.MAX_IMAGE_PIXELS or 0), max_pixels)) from exc
    except _PILLOW_ERRORS as exc:
        raise InvalidImage(_NOT_AN_IMAGE) from exc


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block is ignored (it is dropped anyway)."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # EXIF parsing can fail in many ways; the pixels are still fine
        return img


def _to_srgb(img: Image.Image) -> Image.Image:
    """RGB, or RGBA when the source has transparency; colours mapped through its ICC profile."""
    mode = "RGBA" if img.has_transparency_data else "RGB"
    icc = img.info.get("icc_profile")
    if img.mode not in (mode, "CMYK"):  # CMYK goes straight through the profile when it has one
        img = img.convert(mode)
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(BytesIO(icc))
            converted = ImageCms.profileToProfile(img, source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, *_PILLOW_ERRORS):
            converted = None  # unusable or mismatched profile: keep the pixels as they are
        if converted is not None:
            return converted
    return img if img.mode == mode else img.convert(mode)


def _bomb_message(over: int, max_pixels: int | None) -> str:
    """Pillow does not say the size it refused, only that it is over its threshold."""
    size = f"image is over {_megapixels(over)} megapixels"
    if max_pixels is not None and max_pixels < over:
        return f"{size}; the limit is {_megapixels(max_pixels)} megapixels"
    return f"{size}, too large to decode safely"


def _mb(n: int) -> str:
    return _short(n / (1024 * 1024))


def _megapixels(n: int) -> str:
    return _short(n / 1_000_000)


def _short(x: float) -> str:
    """One decimal without a trailing ``.0`` (20.0 -> "20", 23.44 -> "23.4"); 2 digits below 1."""
    if x < 1:
        return f"{x:.2g}"
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _check_bytes(raw: bytes, max_bytes: int) -> None:
    if not raw:
        raise InvalidImage("the image is empty")
    if len(raw) > max_bytes:
        raise InvalidImage(f"image is {_mb(len(raw))} MB; the limit is {_mb(max_bytes)} MB")


def _check_pixels(img: Image.Image, max_pixels: int) -> tuple[int, int]:
    width, height = img.size
    if width * height > max_pixels:
        raise InvalidImage(
            f"image is {width}×{height} pixels; the limit is {_megapixels(max_pixels)} megapixels"
        )
    return width, height

"""The hardened image loader: every refusal, and what survives re-encoding."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image, ImageCms

from stationthis.core.errors import InvalidImage
from stationthis.core.images import LoadedImage, encode_png, load_image, thumbnail

MAX_PIXELS = 4096 * 4096  # 16.8 megapixels, the default setting
MAX_BYTES = 20 * 1024 * 1024


def load(raw: bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> LoadedImage:
    return load_image(raw, max_pixels=max_pixels, max_bytes=max_bytes)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A 1-bit greyscale PNG; by default a valid all-black one, compressed as far as zlib can."""
    if idat is None:
        row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
        z = zlib.compressobj(9)
        idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_chunk_types(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def halves(size: tuple[int, int], left: str, right: str) -> Image.Image:
    img = Image.new("RGB", size, right)
    img.paste(left, (0, 0, size[0] // 2, size[1]))
    return img


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A real, valid ~49 KB PNG of 20000×20000 pixels (400 megapixels)."""
    return crafted_png(20000, 20000)


# --- refusals -------------------------------------------------------------------------------


def test_empty_data_is_refused() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        load(b"")


def test_more_than_max_bytes_is_refused_with_sizes_in_mb() -> None:
    raw = encode(Image.new("RGB", (8, 8)), "PNG") + b"\0" * int(23.4 * 1024 * 1024)
    with pytest.raises(InvalidImage) as err:
        load(raw)
    assert str(err.value) == "image is 23.4 MB; the limit is 20 MB"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(encode(Image.new("RGB", (8, 8), "red"), "GIF"), id="gif"),
        pytest.param(encode(Image.new("RGB", (8, 8), "red"), "BMP"), id="bmp"),
        pytest.param(encode(Image.new("RGB", (8, 8), "red"), "TIFF"), id="tiff"),
        pytest.param(b"hello, this is text and not an image", id="text"),
        pytest.param(b"\x89PNG\r\n\x1a\n", id="png-signature-only"),
        pytest.param(bytes(range(256)) * 8, id="garbage"),
    ],
)
def test_other_formats_and_garbage_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidImage) as err:
        load(raw)
    assert str(err.value) == "not a PNG, JPEG or WEBP image"


def test_declared_pixel_count_is_checked_before_decoding() -> None:
    # The header says 5000×5000 and the pixel data is garbage: the size refusal (not a
    # "corrupt" one) proves the limit is checked before a single pixel is decoded.
    raw = crafted_png(5000, 5000, idat=b"not zlib data at all")
    with pytest.raises(InvalidImage) as err:
        load(raw)
    assert str(err.value) == "image is 5000×5000 pixels; the limit is 16.8 megapixels"


def test_a_real_image_over_the_pixel_limit_is_refused() -> None:
    raw = encode(Image.new("RGB", (300, 200)), "JPEG")
    with pytest.raises(InvalidImage) as err:
        load(raw, max_pixels=50_000)
    assert str(err.value) == "image is 300×200 pixels; the limit is 0.05 megapixels"
    assert load(raw, max_pixels=60_000).width == 300


def test_a_49_kb_png_declaring_400_megapixels_is_refused(bomb_png: bytes) -> None:
    assert len(bomb_png) < 60_000
    with pytest.raises(InvalidImage) as err:
        load(bomb_png)
    assert "the limit is 16.8 megapixels" in str(err.value)


def test_a_decompression_bomb_is_refused_even_under_a_generous_pixel_limit(
    bomb_png: bytes,
) -> None:
    # Pillow raises DecompressionBombError above 2 × MAX_IMAGE_PIXELS (179 megapixels).
    with pytest.raises(InvalidImage, match="too large to decode safely"):
        load(bomb_png, max_pixels=10**9)


def test_pillows_decompression_bomb_warning_is_an_error() -> None:
    # 100 megapixels: above MAX_IMAGE_PIXELS (89.5 M), where Pillow only *warns*.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 10000 * 10000 < 2 * Image.MAX_IMAGE_PIXELS
    raw = crafted_png(10000, 10000)
    with pytest.raises(InvalidImage, match=r"over 89\.5 megapixels"):
        load(raw, max_pixels=10**9)


def test_loader_leaves_the_global_warning_filters_alone() -> None:
    import warnings

    before = list(warnings.filters)
    load(encode(Image.new("RGB", (4, 4)), "PNG"))
    with pytest.raises(InvalidImage):
        load(crafted_png(10000, 10000), max_pixels=10**9)
    assert warnings.filters == before


def test_truncated_jpeg_is_refused() -> None:
    noisy = Image.effect_noise((256, 256), 50).convert("RGB")
    raw = encode(noisy, "JPEG", quality=95)
    with pytest.raises(InvalidImage) as err:
        load(raw[: len(raw) // 2])
    assert str(err.value) == "the image data is truncated or corrupt"


def test_truncated_png_is_refused() -> None:
    noisy = Image.effect_noise((256, 256), 50).convert("RGB")
    raw = encode(noisy, "PNG")
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        load(raw[: len(raw) // 2])


def test_png_with_corrupt_pixel_data_is_refused() -> None:
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        load(crafted_png(64, 64, idat=b"not zlib data at all"))


# --- what is accepted, and how it comes out ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_allowed_formats_are_reencoded_as_png(fmt: str) -> None:
    loaded = load(encode(Image.new("RGB", (64, 48), "green"), fmt))
    assert loaded.source_format == fmt
    assert loaded.media_type == "image/png"
    assert (loaded.width, loaded.height) == (64, 48)
    with Image.open(BytesIO(loaded.data)) as out:
        assert out.format == "PNG"
        assert out.mode == "RGB"
        assert out.size == (64, 48)


def test_exif_and_other_metadata_are_stripped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x0131] = "SecretSoftware"  # Software
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    raw = encode(Image.new("RGB", (32, 32), "red"), "JPEG", exif=exif.tobytes(), icc_profile=icc)
    with Image.open(BytesIO(raw)) as src:
        assert src.getexif()[0x010F] == "SecretCameraMaker"

    loaded = load(raw)
    assert b"SecretCameraMaker" not in loaded.data
    assert set(png_chunk_types(loaded.data)) == {b"IHDR", b"IDAT", b"IEND"}
    with Image.open(BytesIO(loaded.data)) as out:
        assert not out.getexif()
        assert "icc_profile" not in out.info
        assert "exif" not in out.info


@pytest.mark.parametrize(
    "icc",
    [
        pytest.param(b"this is not an ICC profile", id="garbage"),
        pytest.param(
            ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(), id="not-rgb"
        ),
    ],
)
def test_an_unusable_icc_profile_is_ignored(icc: bytes) -> None:
    loaded = load(encode(Image.new("RGB", (8, 8), (10, 200, 30)), "PNG", icc_profile=icc))
    assert set(png_chunk_types(loaded.data)) == {b"IHDR", b"IDAT", b"IEND"}
    with Image.open(BytesIO(loaded.data)) as out:
        assert out.getpixel((4, 4)) == (10, 200, 30)


def test_an_srgb_profile_leaves_colours_alone() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img = Image.new("RGBA", (8, 8), (10, 200, 30, 128))
    with Image.open(BytesIO(load(encode(img, "PNG", icc_profile=icc)).data)) as out:
        pixel = out.getpixel((4, 4))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, (10, 200, 30, 128), strict=True))


def test_png_text_chunks_are_stripped() -> None:
    src = Image.new("RGBA", (16, 16), (1, 2, 3, 4))
    raw = encode_png(src, {"parameters": "a secret prompt", "Comment": "ünïcode"})
    with Image.open(BytesIO(raw)) as check:
        assert check.info["parameters"] == "a secret prompt"
    loaded = load(raw)
    assert set(png_chunk_types(loaded.data)) == {b"IHDR", b"IDAT", b"IEND"}


def test_exif_orientation_is_applied() -> None:
    # Stored 40×20, red left / blue right, with "rotate 90° clockwise to display" (6):
    # the stored left edge becomes the top.
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = encode(halves((40, 20), "red", "blue"), "JPEG", exif=exif.tobytes(), quality=95)

    loaded = load(raw)
    assert (loaded.width, loaded.height) == (20, 40)
    with Image.open(BytesIO(loaded.data)) as out:
        top, bottom = out.getpixel((10, 5)), out.getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60  # red
    assert bottom[2] > 200 and bottom[0] < 60  # blue


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_alpha_is_kept(fmt: str) -> None:
    img = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 8, 16))
    loaded = load(encode(img, fmt, lossless=True) if fmt == "WEBP" else encode(img, fmt))
    with Image.open(BytesIO(loaded.data)) as out:
        assert out.mode == "RGBA"
        assert out.getpixel((2, 2)) == (0, 0, 255, 255)
        opaque, transparent = out.getpixel((2, 2)), out.getpixel((12, 2))
    assert isinstance(opaque, tuple) and isinstance(transparent, tuple)
    assert opaque[3] == 255 and transparent[3] == 0


@pytest.mark.parametrize(
    ("img", "params", "mode"),
    [
        pytest.param(Image.new("L", (8, 8), 128), {}, "RGB", id="grey"),
        pytest.param(Image.new("LA", (8, 8), (128, 10)), {}, "RGBA", id="grey-alpha"),
        pytest.param(Image.new("P", (8, 8), 3), {"transparency": 3}, "RGBA", id="palette-trns"),
        pytest.param(Image.new("P", (8, 8), 3), {}, "RGB", id="palette"),
        pytest.param(Image.new("1", (8, 8), 1), {}, "RGB", id="bilevel"),
        pytest.param(Image.new("I;16", (8, 8), 40000), {}, "RGB", id="16-bit"),
    ],
)
def test_png_modes_become_rgb_or_rgba(
    img: Image.Image, params: dict[str, object], mode: str
) -> None:
    loaded = load(encode(img, "PNG", **params))
    with Image.open(BytesIO(loaded.data)) as out:
        assert out.mode == mode


def test_cmyk_jpeg_becomes_rgb() -> None:
    loaded = load(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    with Image.open(BytesIO(loaded.data)) as out:
        assert out.mode == "RGB"
        red = out.getpixel((4, 4))
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60


def test_multi_picture_jpeg_keeps_the_first_picture() -> None:
    first, second = Image.new("RGB", (16, 16), "red"), Image.new("RGB", (16, 16), "blue")
    raw = encode(first, "MPO", save_all=True, append_images=[second])
    loaded = load(raw)
    assert loaded.source_format == "JPEG"
    with Image.open(BytesIO(loaded.data)) as out:
        pixel = out.getpixel((8, 8))
    assert isinstance(pixel, tuple) and pixel[0] > 200


def test_limits_at_the_boundary_are_accepted() -> None:
    raw = encode(Image.new("RGB", (100, 50)), "PNG")
    loaded = load(raw, max_pixels=5000, max_bytes=len(raw))
    assert (loaded.width, loaded.height) == (100, 50)


# --- thumbnail and encode_png -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((400, 200), 100, (100, 50)),
        ((200, 400), 100, (50, 100)),
        ((300, 300), 256, (256, 256)),
        ((50, 30), 100, (50, 30)),  # never enlarged
    ],
)
def test_thumbnail_fits_the_box_keeping_aspect_ratio(
    size: tuple[int, int], box: int, expected: tuple[int, int]
) -> None:
    png = load(encode(Image.new("RGB", size, "green"), "PNG")).data
    thumb = thumbnail(png, box)
    with Image.open(BytesIO(thumb)) as out:
        assert out.format == "JPEG"
        assert out.size == expected


def test_thumbnail_flattens_transparency_onto_white() -> None:
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (0, 0, 32, 64))
    thumb = thumbnail(load(encode(img, "PNG")).data, 32)
    with Image.open(BytesIO(thumb)) as out:
        assert out.mode == "RGB"
        clear, red = out.getpixel((28, 16)), out.getpixel((4, 16))
    assert isinstance(clear, tuple) and min(clear) > 240  # white, not black
    assert isinstance(red, tuple) and red[0] > 200 and red[1] < 60


def test_thumbnail_refuses_bad_input() -> None:
    with pytest.raises(InvalidImage):
        thumbnail(b"nope", 64)
    with pytest.raises(ValueError):
        thumbnail(encode(Image.new("RGB", (8, 8)), "PNG"), 0)


def test_encode_png_writes_text_chunks_and_nothing_else() -> None:
    img = Image.new("RGB", (8, 8), "red")
    img.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode_png(img, {"prompt": "a cat", "seed": "42", "note": "café ✓"})
    kinds = png_chunk_types(data)
    assert b"iCCP" not in kinds
    assert kinds.count(b"tEXt") + kinds.count(b"iTXt") == 3
    with Image.open(BytesIO(data)) as out:
        assert out.info["prompt"] == "a cat"
        assert out.info["seed"] == "42"
        assert out.info["note"] == "café ✓"
    assert set(png_chunk_types(encode_png(img))) == {b"IHDR", b"IDAT", b"IEND"}

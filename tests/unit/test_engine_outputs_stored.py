"""What an engine hands back is stored as it came: a PNG byte for byte but for the job's text
chunks (spliced in, no re-encode), a JPEG as it is with the text in the media row. A damaged
output is still refused, clearly, and the job fails with its hold released."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from stationthis.core.engine import Artifact, RunHandle
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine


class HandsBack(ScriptedEngine):
    """The scripted engine, returning the bytes a test gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.output = Artifact(b"", "image/png", "out.png")

    async def result(self, handle: RunHandle) -> list[Artifact]:
        await super().result(handle)
        return [self.output]


@pytest.fixture
def engine() -> HandsBack:
    return HandsBack()


def engine_png(size: tuple[int, int] = (96, 64), text: dict[str, str] | None = None) -> bytes:
    """A PNG as a backend writes one: fast compression (a re-encode would change every byte of
    IDAT) and its own text chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    img = Image.effect_mandelbrot(size, (-2, -1.2, 1, 1.2), 60).convert("RGB")
    buffer = io.BytesIO()
    img.save(buffer, "PNG", pnginfo=info, compress_level=1)
    return buffer.getvalue()


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    out, at = [], 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        out.append((kind, png[at + 8 : at + 8 + length]))
        at += 12 + length
    return out


def without_text(png: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, d) for k, d in chunks(png) if k not in (b"tEXt", b"zTXt", b"iTXt")]


async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("test", "alice"))


async def run_job(app: App, account: Account) -> tuple[str, str | None, list[str]]:
    job = await app.make_image.make(account, Request("make", {"prompt": "a fox", "seed": 3}))
    done = await app.jobs.wait(job.id, timeout=10)
    return done.state, done.error, list(done.outputs)


async def test_a_png_is_stored_byte_for_byte_with_the_jobs_text_spliced_in(
    app: App, engine: HandsBack
) -> None:
    original = engine_png(text={"prompt": '{"3": {"class_type": "KSampler"}}',
                                "stationthis:engine_version": "7"})
    engine.output = Artifact(original, "image/png", "ComfyUI_00001_.png", meta={"node": "9"})
    account = await alice(app)
    state, error, outputs = await run_job(app, account)
    assert state == "succeeded", error
    item = await app.media.get(outputs[0], owner_id=account.id)
    stored = await app.media.read(item)
    # Every chunk but the text ones is the engine's own, in order: no re-encode.
    assert without_text(stored) == without_text(original)
    assert stored[: stored.index(b"IDAT")] .startswith(original[:33])  # signature + IHDR
    img = Image.open(io.BytesIO(stored))
    img.load()
    assert img.text["stationthis:job"] == item.job_id
    assert img.text["stationthis:engine_version"] == "7"  # the engine's label survives
    assert "prompt" not in img.text  # a server's embedded workflow does not
    assert (item.media_type, item.width, item.height) == ("image/png", 96, 64)
    assert item.meta["node"] == "9" and item.size == len(stored)


async def test_a_jpeg_is_stored_as_it_is_with_the_text_in_its_row(
    app: App, engine: HandsBack
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 48), (20, 120, 220)).save(buffer, "JPEG", quality=90)
    engine.output = Artifact(buffer.getvalue(), "image/jpeg", "out.jpg")
    account = await alice(app)
    state, error, outputs = await run_job(app, account)
    assert state == "succeeded", error
    item = await app.media.get(outputs[0], owner_id=account.id)
    assert await app.media.read(item) == buffer.getvalue()
    assert (item.media_type, item.width, item.height) == ("image/jpeg", 80, 48)
    assert item.key.endswith(".jpg")
    assert item.meta["text"]["stationthis:job"] == item.job_id
    assert (await app.media.thumbnail(item)).startswith(b"\xff\xd8")


async def test_what_the_header_cannot_vouch_for_goes_through_the_full_loader(
    app: App, engine: HandsBack
) -> None:
    buffer = io.BytesIO()
    Image.new("CMYK", (40, 30), (0, 200, 200, 0)).save(buffer, "JPEG")
    engine.output = Artifact(buffer.getvalue(), "image/png", "cmyk.jpg")
    account = await alice(app)
    state, error, outputs = await run_job(app, account)
    assert state == "succeeded", error
    item = await app.media.get(outputs[0], owner_id=account.id)
    stored = Image.open(io.BytesIO(await app.media.read(item)))
    assert (stored.format, stored.mode, stored.size) == ("PNG", "RGB", (40, 30))
    assert stored.text["stationthis:job"] == item.job_id


async def test_a_png_with_an_exif_rotation_is_turned_upright_by_the_loader(
    app: App, engine: HandsBack
) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buffer, "PNG", exif=exif.tobytes())
    engine.output = Artifact(buffer.getvalue(), "image/png", "rotated.png")
    account = await alice(app)
    state, error, outputs = await run_job(app, account)
    assert state == "succeeded", error
    item = await app.media.get(outputs[0], owner_id=account.id)
    assert (item.width, item.height) == (30, 40)
    assert b"eXIf" not in await app.media.read(item)


def _flip_in_idat(png: bytes) -> bytes:
    at = png.index(b"IDAT") + 20
    return png[:at] + bytes([png[at] ^ 0xFF]) + png[at + 1 :]


def _bad_crc_text(png: bytes) -> bytes:
    body = b"note\x00hello"
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(
        ">I", (zlib.crc32(b"tEXt" + body) + 1) & 0xFFFFFFFF)
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


@pytest.mark.parametrize("damage", [
    lambda png: png[:-40],  # truncated: IDAT cut short, no IEND
    _flip_in_idat,  # a flipped byte: the chunk's CRC no longer matches
    _bad_crc_text,
    lambda png: b"GIF89a" + png[6:],
    lambda png: png[:-12],  # no IEND
])
async def test_a_damaged_output_is_refused_and_the_hold_released(
    app: App, engine: HandsBack, damage: object
) -> None:
    assert callable(damage)
    engine.output = Artifact(damage(engine_png()), "image/png", "broken.png")
    account = await alice(app)
    before = (await app.ledger.balance(account.id)).total
    state, error, outputs = await run_job(app, account)
    assert state == "failed" and not outputs
    assert "the engine's output 'broken.png' was refused" in (error or "")
    assert "corrupt" in (error or "") or "not a PNG, JPEG or WEBP" in (error or "")
    assert (await app.ledger.balance(account.id)).total == before
    assert [e.kind for e in reversed(await app.ledger.history(account.id))][-2:] == [
        "hold", "release"]


async def test_an_output_over_the_pixel_limit_is_refused_from_its_header(
    app: App, engine: HandsBack
) -> None:
    limit = app.media.max_pixels
    side = int(limit**0.5) + 64
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    engine.output = Artifact(buffer.getvalue(), "image/png", "huge.png")
    state, error, _ = await run_job(app, await alice(app))
    assert state == "failed" and f"{side}×{side} pixels" in (error or "")


async def test_the_preview_engines_version_label_survives_into_the_stored_file(
    preview_app: App,
) -> None:
    from stationthis.engines.preview.imageio import ENGINE_VERSION

    account = await alice(preview_app)
    state, error, outputs = await run_job(preview_app, account)
    assert state == "succeeded", error
    item = await preview_app.media.get(outputs[0], owner_id=account.id)
    img = Image.open(io.BytesIO(await preview_app.media.read(item)))
    img.load()
    assert img.text["stationthis:engine_version"] == ENGINE_VERSION
    assert img.text["stationthis:job"] == item.job_id

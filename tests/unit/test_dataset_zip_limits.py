"""Importing a dataset zip is refused early and cheaply when it is hostile: too many images,
zero-filled "images" that expand a thousand times, a caption of a gigabyte, sizes in the
headers that lie, more entries than a dataset zip needs, and names that climb out of the zip.
Odd but harmless names (``./x.png``, ``a//b.png``) import. Memory is measured with
tracemalloc: a refused zip is refused before its entries are decompressed."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from tests.support.scripted import ScriptedEngine
from tests.unit.test_training import photo

MB = 1024 * 1024


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def declare_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with ``name``'s uncompressed size in its local and central headers replaced."""
    out = bytearray(data)
    encoded = name.encode()
    at = 0
    while (at := out.find(b"PK\x03\x04", at)) >= 0:  # local headers: size at +22
        if out[at + 30:at + 30 + len(encoded)] == encoded:
            struct.pack_into("<L", out, at + 22, size)
        at += 4
    at = 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:  # central headers: size at +24
        if out[at + 46:at + 46 + len(encoded)] == encoded:
            struct.pack_into("<L", out, at + 24, size)
        at += 4
    return bytes(out)


async def peak_of(work: Awaitable[Any]) -> tuple[BaseException | None, int]:
    """What ``work`` raised (or None) and the peak bytes Python allocated meanwhile."""
    tracemalloc.start()
    try:
        await work
        error: BaseException | None = None
    except Exception as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


@pytest.fixture
async def make_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[App]]]:
    started: list[App] = []

    async def make(**settings: Any) -> App:
        app = build(make_settings(**settings), engine=ScriptedEngine())
        await app.start()
        started.append(app)
        return app

    yield make
    for app in started:
        await app.stop()


async def owner_and_dataset(app: App) -> tuple[Account, str]:
    alice = await app.users.resolve(Identity("test", "alice"))
    return alice, (await app.datasets.create(alice.id, "zipped", trigger="zz")).id


async def test_a_hundred_zero_filled_pngs_are_refused_before_any_is_read(
    make_app: Callable[..., Awaitable[App]],
) -> None:
    # The probe's zip, scaled to a 1 MB upload limit: 25 entries of exactly the limit.
    app = await make_app(max_upload_bytes=MB)
    alice, dataset_id = await owner_and_dataset(app)
    data = zip_of({f"{i:03d}.png": bytes(MB) for i in range(25)})
    assert len(data) < MB // 10
    error, peak = await peak_of(app.training.import_zip(alice, dataset_id, data))
    assert isinstance(error, InvalidInput), error
    assert error.message == "25 images do not fit: this dataset has 20 free slots of 20"
    assert peak < 2 * MB  # the old import decompressed all 25 MB first
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_zero_filled_images_that_fit_are_refused_as_a_zip_bomb(
    make_app: Callable[..., Awaitable[App]],
) -> None:
    app = await make_app(max_upload_bytes=4 * MB)
    alice, dataset_id = await owner_and_dataset(app)
    data = zip_of({"a.png": photo((1, 2, 3)), **{f"{i}.png": bytes(3 * MB) for i in range(3)}})
    error, peak = await peak_of(app.training.import_zip(alice, dataset_id, data))
    assert isinstance(error, InvalidInput), error
    assert "'0.png' expands" in error.message and "zip bomb" in error.message
    assert peak < 2 * MB
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_a_huge_caption_is_refused_without_being_read(
    make_app: Callable[..., Awaitable[App]],
) -> None:
    app = await make_app()
    alice, dataset_id = await owner_and_dataset(app)
    # A real 8 MB caption (zeros compress to a few KB) ...
    data = zip_of({"a.jpg": photo((9, 9, 9)), "a.txt": bytes(8 * MB)})
    error, peak = await peak_of(app.training.import_zip(alice, dataset_id, data))
    assert isinstance(error, InvalidInput), error
    assert error.message == "'a.txt' is 8 MB; a caption file may be at most 64 KB"
    assert peak < 2 * MB
    # ... and one that says it is 1 GiB: refused from the header, nothing decompressed.
    lying = declare_size(zip_of({"a.jpg": photo((9, 9, 9)), "a.txt": b"a caption"}),
                         "a.txt", 1 << 30)
    with pytest.raises(InvalidInput, match=r"'a\.txt' is 1 GB; a caption file may be at most"):
        await app.training.import_zip(alice, dataset_id, lying)
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_a_header_that_understates_a_size_is_caught_while_reading(
    make_app: Callable[..., Awaitable[App]],
) -> None:
    app = await make_app(max_upload_bytes=MB)
    alice, dataset_id = await owner_and_dataset(app)
    # 3 MB behind a header that says 1000 bytes: never more than the declared size is read.
    lying = declare_size(zip_of({"b.jpg": photo((5, 5, 5)), "c.png": bytes(3 * MB)}),
                         "c.png", 1000)
    error, peak = await peak_of(app.training.import_zip(alice, dataset_id, lying))
    assert isinstance(error, InvalidInput), error
    assert error.message.startswith("'c.png' cannot be read")
    assert peak < 2 * MB
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_a_zip_with_too_many_entries_is_refused_before_it_is_parsed(app: App) -> None:
    alice, dataset_id = await owner_and_dataset(app)
    entries = {"a.jpg": photo((7, 7, 7)), **{f"notes/{i}.md": b"" for i in range(500)}}
    with pytest.raises(InvalidInput, match=r"the zip has 501 entries; .* at most 112"):
        await app.training.import_zip(alice, dataset_id, zip_of(entries))
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_an_end_record_that_understates_the_entry_count_is_refused(app: App) -> None:
    alice, dataset_id = await owner_and_dataset(app)
    data = bytearray(zip_of({"a.jpg": photo((7, 7, 7)),
                             **{f"n/{i:05d}.md": b"" for i in range(4000)}}))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # "1 entry" (zipfile parses them all anyway)
    with pytest.raises(InvalidInput, match=r"the zip's list of entries is .* at most 112 KB"):
        await app.training.import_zip(alice, dataset_id, bytes(data))
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_odd_entry_names_import_and_pair_with_their_captions(app: App) -> None:
    alice, dataset_id = await owner_and_dataset(app)
    data = zip_of({
        "./x.png": photo((200, 10, 10)), "./x.txt": b"zz red",
        "a//b.png": photo((10, 200, 10)), "a/b.txt": b"zz green",
        "a/./c.JPG": photo((10, 10, 200)), "a/c.TXT": b"zz blue",
        "__MACOSX/a/._b.png": b"resource fork", "a/": b"",
    })
    assert await app.training.import_zip(alice, dataset_id, data) == 3
    images = (await app.datasets.get(alice.id, dataset_id)).images
    assert [i.caption for i in images] == ["zz green", "zz blue", "zz red"]


@pytest.mark.parametrize(("name", "reason"), [
    ("../evil.png", "'../evil.png' points outside the zip (..)"),
    ("a/../../evil.png", "'a/../../evil.png' points outside the zip (..)"),
    ("..\\evil.png", "points outside the zip"),
    ("/etc/evil.png", "'/etc/evil.png' is an absolute path; zip entries must be relative"),
    ("C:/evil.png", "is an absolute path"),
])
async def test_names_that_leave_the_zip_are_refused(app: App, name: str, reason: str) -> None:
    alice, dataset_id = await owner_and_dataset(app)
    data = zip_of({"ok.png": photo((1, 1, 1)), name: photo((2, 2, 2))})
    with pytest.raises(InvalidInput) as refused:
        await app.training.import_zip(alice, dataset_id, data)
    assert reason in refused.value.message
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()


async def test_two_entries_with_the_same_path_are_refused(app: App) -> None:
    alice, dataset_id = await owner_and_dataset(app)
    data = zip_of({"x.png": photo((1, 1, 1)), "./x.png": photo((2, 2, 2))})
    with pytest.raises(InvalidInput, match=r"two entries named 'x\.png'"):
        await app.training.import_zip(alice, dataset_id, data)


async def test_an_image_over_the_upload_limit_is_named(
    make_app: Callable[..., Awaitable[App]],
) -> None:
    app = await make_app(max_upload_bytes=64 * 1024)
    alice, dataset_id = await owner_and_dataset(app)
    big = photo((50, 60, 70), (900, 900), noise=3)
    assert len(big) > 64 * 1024
    data = zip_of({"small.jpg": photo((1, 1, 1), (64, 64)), "big.jpg": big},
                  zipfile.ZIP_STORED)
    with pytest.raises(InvalidInput, match=r"'big.jpg' is .* an image may be at most 64 KB"):
        await app.training.import_zip(alice, dataset_id, data)
    assert (await app.datasets.get(alice.id, dataset_id)).images == ()

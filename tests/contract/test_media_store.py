"""One MediaStore contract, run against every implementation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.media_store import MediaStore, ObstoreMediaStore

PNG = "image/png"


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "local":
        return ObstoreMediaStore.local(tmp_path / "media")
    return ObstoreMediaStore.memory()


async def test_put_then_get_returns_the_same_bytes(store: MediaStore) -> None:
    data = bytes(range(256)) * 100
    await store.put("uploads/2024/abc.png", data, PNG)
    got = await store.get("uploads/2024/abc.png")
    assert got == data
    assert type(got) is bytes


async def test_empty_object_round_trips(store: MediaStore) -> None:
    await store.put("empty.bin", b"", "application/octet-stream")
    assert await store.get("empty.bin") == b""
    assert await store.exists("empty.bin")


async def test_put_overwrites(store: MediaStore) -> None:
    await store.put("a.png", b"first", PNG)
    await store.put("a.png", b"second, longer", PNG)
    assert await store.get("a.png") == b"second, longer"


async def test_missing_key_is_not_found(store: MediaStore) -> None:
    with pytest.raises(NotFound) as err:
        await store.get("nope/missing.png")
    assert err.value.code == "not_found"


async def test_a_prefix_of_a_key_is_not_an_object(store: MediaStore) -> None:
    await store.put("dir/file.png", b"x", PNG)
    assert not await store.exists("dir")
    with pytest.raises(NotFound):
        await store.get("dir")


async def test_exists(store: MediaStore) -> None:
    assert not await store.exists("x.png")
    await store.put("x.png", b"x", PNG)
    assert await store.exists("x.png")


async def test_delete_removes_the_object(store: MediaStore) -> None:
    await store.put("gone.png", b"x", PNG)
    await store.put("kept.png", b"y", PNG)
    await store.delete("gone.png")
    assert not await store.exists("gone.png")
    with pytest.raises(NotFound):
        await store.get("gone.png")
    assert await store.get("kept.png") == b"y"


async def test_deleting_a_missing_key_is_fine(store: MediaStore) -> None:
    await store.delete("never/was.png")
    await store.put("twice.png", b"x", PNG)
    await store.delete("twice.png")
    await store.delete("twice.png")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../escape.png",
        "a/../../b.png",
        "a/..",
        "..",
        ".",
        "a/./b.png",
        "a//b.png",
        "a/",
        "with space.png",
        "back\\slash.png",
        "ünïcode.png",
        "query?.png",
        "x" * 1025,
    ],
)
async def test_bad_keys_are_refused_by_every_operation(store: MediaStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        await store.put(key, b"x", PNG)
    with pytest.raises(InvalidInput):
        await store.get(key)
    with pytest.raises(InvalidInput):
        await store.delete(key)
    with pytest.raises(InvalidInput):
        await store.exists(key)


@pytest.mark.parametrize("key", ["a", ".hidden", "A-Z_0.9/x.y.z", "deep/" * 20 + "leaf.webp"])
async def test_unusual_but_valid_keys_work(store: MediaStore, key: str) -> None:
    await store.put(key, b"ok", PNG)
    assert await store.get(key) == b"ok"


async def test_concurrent_puts_of_50_keys(store: MediaStore) -> None:
    keys = [f"batch/{i:02d}.png" for i in range(50)]
    await asyncio.gather(*(store.put(k, k.encode() * 1000, PNG) for k in keys))
    got = await asyncio.gather(*(store.get(k) for k in keys))
    assert got == [k.encode() * 1000 for k in keys]


async def test_concurrent_overwrites_of_one_key_leave_one_whole_value(store: MediaStore) -> None:
    values = [bytes([i]) * 50_000 for i in range(20)]
    await asyncio.gather(*(store.put("same.png", v, PNG) for v in values))
    assert await store.get("same.png") in values


# --- implementation details that the contract does not cover ---------------------------------


async def test_local_store_writes_files_under_its_directory(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet" / "there"
    store = ObstoreMediaStore.local(root)
    await store.put("u/1.png", b"pixels", PNG)
    assert (root / "u" / "1.png").read_bytes() == b"pixels"
    assert [p.name for p in root.rglob("*") if p.is_file()] == ["1.png"]  # no temp files left


async def test_memory_stores_are_independent() -> None:
    one, two = ObstoreMediaStore.memory(), ObstoreMediaStore.memory()
    await one.put("k.png", b"x", PNG)
    assert not await two.exists("k.png")


async def test_listing_gives_every_object_with_its_size_and_time(store: MediaStore) -> None:
    from datetime import UTC, datetime, timedelta

    assert [o async for batch in store.listing() for o in batch] == []
    await store.put("a/b/c.png", b"abc", PNG)
    await store.put("d.png", b"de", PNG)
    found = sorted([o async for batch in store.listing() for o in batch], key=lambda o: o.key)
    assert [(o.key, o.size) for o in found] == [("a/b/c.png", 3), ("d.png", 2)]
    assert all(abs(o.modified - datetime.now(UTC)) < timedelta(minutes=5) for o in found)

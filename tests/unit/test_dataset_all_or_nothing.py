"""A refused or failed dataset upload leaves nothing behind: no dataset images, no media rows,
no files in the media store. And files that no media row refers to are found and removed by
``prune_orphans`` (only once they are an hour old: an upload may be writing them)."""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import InvalidInput
from stationthis.core.media_store import ObstoreMediaStore, StoredObject
from stationthis.core.schema import media
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from tests.support.scripted import ScriptedEngine
from tests.unit.test_training import photo


class FailingStore:
    """The real local store, except that the ``fail_at``-th put from now on fails."""

    def __init__(self, inner: ObstoreMediaStore) -> None:
        self.inner = inner
        self.fail_at: int | None = None
        self.puts = 0

    async def put(self, key: str, data: bytes, media_type: str) -> None:
        self.puts += 1
        if self.fail_at is not None and self.puts == self.fail_at:
            raise OSError("No space left on device")
        await self.inner.put(key, data, media_type)

    async def get(self, key: str) -> bytes:
        return await self.inner.get(key)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    def listing(self) -> AsyncIterator[list[StoredObject]]:
        return self.inner.listing()


@pytest.fixture
async def station(
    make_settings: Callable[..., Settings], db_url: str,
) -> AsyncIterator[tuple[App, FailingStore]]:
    """On SQLite and on PostgreSQL."""
    settings = make_settings(database_url=db_url)
    assert settings.media_dir is not None
    store = FailingStore(ObstoreMediaStore.local(settings.media_dir))
    app = build(settings, engine=ScriptedEngine(), store=store)
    await app.start()
    try:
        yield app, store
    finally:
        await app.stop()


def files_in(app: App) -> set[str]:
    root = Path(app.settings.media_dir or "")
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


async def media_rows(app: App) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(media))).scalar_one())


async def with_one_image(app: App) -> tuple[Account, str]:
    alice = await app.users.resolve(Identity("test", "alice"))
    dataset = await app.datasets.create(alice.id, "pets", trigger="pt")
    await app.datasets.add_images(alice.id, dataset.id, [(photo((9, 9, 9)), "pt first")])
    return alice, dataset.id


async def test_a_bad_caption_on_image_2_adds_nothing(
    station: tuple[App, FailingStore],
) -> None:
    app, _ = station
    alice, dataset_id = await with_one_image(app)
    before = (await app.datasets.get(alice.id, dataset_id), await media_rows(app), files_in(app))
    with pytest.raises(InvalidInput, match="image 2: a caption is at most 1000 characters"):
        await app.datasets.add_images(alice.id, dataset_id, [
            (photo((200, 1, 1)), "fine"), (photo((1, 200, 1)), "x" * 1001),
            (photo((1, 1, 200)), None),
        ])
    after = (await app.datasets.get(alice.id, dataset_id), await media_rows(app), files_in(app))
    assert after == before


async def test_a_bad_caption_in_a_zip_adds_nothing(station: tuple[App, FailingStore]) -> None:
    app, _ = station
    alice, dataset_id = await with_one_image(app)
    before = (await app.datasets.get(alice.id, dataset_id), await media_rows(app), files_in(app))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1.jpg", photo((200, 1, 1)))
        archive.writestr("1.txt", "fine")
        archive.writestr("2.jpg", photo((1, 200, 1)))
        archive.writestr("2.txt", "word " * 300)
    with pytest.raises(InvalidInput, match=r"2\.jpg: a caption is at most 1000 characters"):
        await app.training.import_zip(alice, dataset_id, buffer.getvalue())
    after = (await app.datasets.get(alice.id, dataset_id), await media_rows(app), files_in(app))
    assert after == before


async def test_a_store_failure_midway_removes_what_was_stored(
    station: tuple[App, FailingStore],
) -> None:
    app, store = station
    alice, dataset_id = await with_one_image(app)
    before = (await app.datasets.get(alice.id, dataset_id), await media_rows(app), files_in(app))
    store.fail_at = store.puts + 3  # images 1 and 2 are stored, image 3 fails
    with pytest.raises(OSError, match="No space left"):
        await app.datasets.add_images(alice.id, dataset_id, [
            (photo((200, 1, 1)), "one"), (photo((1, 200, 1)), "two"), (photo((1, 1, 200)), None),
        ])
    after = (await app.datasets.get(alice.id, dataset_id), await media_rows(app), files_in(app))
    assert after == before
    store.fail_at = None
    added = await app.datasets.add_images(alice.id, dataset_id, [(photo((5, 5, 5)), "again")])
    assert [i.position for i in added] == [2]


async def test_prune_orphans_removes_old_files_without_a_row(
    station: tuple[App, FailingStore],
) -> None:
    app, _ = station
    alice, dataset_id = await with_one_image(app)
    image = (await app.datasets.get(alice.id, dataset_id)).images[0]
    await app.media.thumbnail(await app.media.get(image.media_id))  # a thumbnail file too
    kept = files_in(app)
    root = Path(app.settings.media_dir or "")
    (root / alice.id / "lost.png").write_bytes(b"left by a crash")
    (root / alice.id / "fresh.png").write_bytes(b"an upload in progress")
    two_hours_ago = time.time() - 7200
    for name in kept | {f"{alice.id}/lost.png"}:  # everything old but the fresh file
        os.utime(root / name, (two_hours_ago, two_hours_ago))

    listed = await app.media.prune_orphans(dry_run=True)
    assert [o.key for o in listed] == [f"{alice.id}/lost.png"]
    assert listed[0].size == len(b"left by a crash")
    assert (root / alice.id / "lost.png").exists()

    pruned = await app.media.prune_orphans()
    assert [o.key for o in pruned] == [f"{alice.id}/lost.png"]
    assert files_in(app) == kept | {f"{alice.id}/fresh.png"}
    assert await app.media.read(await app.media.get(image.media_id))  # still readable
    assert await app.media.prune_orphans() == []

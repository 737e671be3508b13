"""Media items: every image that enters the system is checked by the hardened loader, stored
in the ``MediaStore`` and recorded in ``media`` with its owner. Thumbnails are made once.

An engine's output is ours, not a user's upload: its header and structure are checked
(`check_output`) and its bytes stored as they are — a PNG gets the job's text chunks spliced
in before IEND, a JPEG or WEBP keeps them in the row's ``meta["text"]``. Only what that check
cannot vouch for is re-encoded by the loader."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.engine import Artifact
from stationthis.core.errors import InvalidImage, InvalidInput, NotFound
from stationthis.core.images import check_output, load_image, png_with_text, thumbnail
from stationthis.core.media_store import MediaStore, StoredObject, check_key
from stationthis.core.schema import media

log = logging.getLogger(__name__)
ORPHAN_AGE = timedelta(hours=1)  # younger files may belong to an upload still in progress
INLINE_CHECK_BYTES = 1 << 20  # engine outputs up to this size are checked on the event loop

_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp",
        "application/json": "json", "text/plain": "txt"}


@dataclass(frozen=True)
class MediaItem:
    id: str
    owner_id: str
    kind: str
    key: str
    media_type: str
    size: int
    width: int | None
    height: int | None
    sha256: str
    job_id: str | None
    meta: dict[str, Any]
    created_at: datetime

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


@dataclass(frozen=True)
class Staged:
    """A checked image whose file is stored but whose row is not written yet: `record` it
    inside the caller's transaction, or `discard` it."""

    values: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.values["id"])


class MediaService:
    def __init__(
        self, db: Database, store: MediaStore, *, max_pixels: int, max_bytes: int,
        thumb_size: int = 256,
    ) -> None:
        self.db = db
        self.store = store
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self.thumb_size = thumb_size

    async def ingest(
        self, owner_id: str, raw: bytes, *, kind: str = "upload", job_id: str | None = None,
        meta: dict[str, Any] | None = None, text: dict[str, str] | None = None,
    ) -> MediaItem:
        """Check an image with the hardened loader, re-encode it as PNG and store it."""
        loaded = await asyncio.to_thread(
            load_image, raw, max_pixels=self.max_pixels, max_bytes=self.max_bytes
        )
        data = add_png_text(loaded.data, text) if text else loaded.data
        return await self._save(
            owner_id, data, "image/png", kind=kind, job_id=job_id, width=loaded.width,
            height=loaded.height, meta=meta or {},
        )

    async def store_artifact(
        self, owner_id: str, artifact: Artifact, *, job_id: str, text: dict[str, str]
    ) -> MediaItem:
        """Store an engine's output and write its row (see `stage_artifact`)."""
        staged = await self.stage_artifact(owner_id, artifact, job_id=job_id, text=text)
        try:
            async with self.db.write() as conn:
                return await self.record(conn, staged)
        except BaseException:
            await self.discard([staged])
            raise

    async def stage_artifact(
        self, owner_id: str, artifact: Artifact, *, job_id: str, text: dict[str, str]
    ) -> Staged:
        """Check an engine's output and store its file, without a row (`record` it in the
        transaction that finishes the job). Images are checked by their header and structure
        and kept byte for byte (`InvalidImage` when refused); see the module's docstring."""
        meta: dict[str, Any] = {**artifact.meta, "name": artifact.name}
        if not artifact.media_type.startswith("image/"):
            kind = "text" if artifact.media_type.startswith("text/") else "model"
            return await self._put(owner_id, artifact.data, artifact.media_type, kind=kind,
                                   job_id=job_id, meta=meta, width=None, height=None)
        try:
            if len(artifact.data) <= INLINE_CHECK_BYTES:
                checked = _checked_output(artifact.data, text, self.max_pixels, self.max_bytes)
            else:
                checked = await asyncio.to_thread(
                    _checked_output, artifact.data, text, self.max_pixels, self.max_bytes)
            if checked is None:  # only the full loader can vouch for it: re-encoded as PNG
                loaded = await asyncio.to_thread(
                    load_image, artifact.data, max_pixels=self.max_pixels,
                    max_bytes=self.max_bytes,
                )
                checked = (add_png_text(loaded.data, text) if text else loaded.data,
                           "image/png", loaded.width, loaded.height)
        except InvalidImage as exc:
            raise InvalidImage(f"the engine's output {artifact.name!r} was refused: "
                               f"{exc.message}") from exc
        data, media_type, width, height = checked
        if media_type != "image/png" and text:
            meta["text"] = dict(text)
        return await self._put(owner_id, data, media_type, kind="output", job_id=job_id,
                               meta=meta, width=width, height=height)

    async def get(self, media_id: str, owner_id: str | None = None) -> MediaItem:
        """A media item; with ``owner_id``, someone else's item does not exist."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(media).where(media.c.id == media_id))).first()
        if row is None or (owner_id is not None and row.owner_id != owner_id):
            raise NotFound("no such image")
        return _item(row)

    async def read(self, item: MediaItem) -> bytes:
        return await self.store.get(item.key)

    async def thumbnail(self, item: MediaItem) -> bytes:
        """A small JPEG of an image, made on first request and kept."""
        async with self.db.read() as conn:
            thumb_key = (
                await conn.execute(select(media.c.thumb_key).where(media.c.id == item.id))
            ).scalar_one_or_none()
        if thumb_key:
            return await self.store.get(thumb_key)
        data = await asyncio.to_thread(thumbnail, await self.read(item), self.thumb_size)
        key = f"thumbs/{item.id}.jpg"
        await self.store.put(key, data, "image/jpeg")
        async with self.db.write() as conn:
            await conn.execute(update(media).where(media.c.id == item.id).values(thumb_key=key))
        return data

    async def stage(self, owner_id: str, raw: bytes, *, kind: str) -> Staged:
        """Check an image with the hardened loader and store its file, without a row."""
        loaded = await asyncio.to_thread(
            load_image, raw, max_pixels=self.max_pixels, max_bytes=self.max_bytes
        )
        return await self._put(owner_id, loaded.data, "image/png", kind=kind, job_id=None,
                               meta={}, width=loaded.width, height=loaded.height)

    async def record(self, conn: AsyncConnection, staged: Staged) -> MediaItem:
        """Write a staged item's row inside the caller's transaction."""
        return (await record_staged(conn, [staged]))[0]

    async def discard(self, staged: Iterable[Staged], *, rows: bool = True) -> None:
        """Delete the files (and any rows) of staged items: a refused or failed batch.
        ``rows=False``: the rows were never written (or rolled back), only files go."""
        items = list(staged)
        if not items:
            return
        if rows:
            async with self.db.write() as conn:
                await conn.execute(delete(media).where(media.c.id.in_([s.id for s in items])))
        for item in items:
            try:
                await self.store.delete(item.values["key"])
            except Exception:  # prune_orphans removes what is left behind
                log.warning("could not delete %s", item.values["key"], exc_info=True)

    async def prune_orphans(
        self, *, older_than: timedelta = ORPHAN_AGE, dry_run: bool = False,
        now: datetime | None = None,
    ) -> list[StoredObject]:
        """Delete the stored files that no media row refers to (as file or thumbnail) and
        that are older than ``older_than``; return them. ``dry_run`` only lists them."""
        cutoff = (now or utcnow()) - older_than
        orphans: list[StoredObject] = []
        async for batch in self.store.listing():
            old = [o for o in batch if o.modified < cutoff and _is_key(o.key)]
            if not old:
                continue
            keys = [o.key for o in old]
            async with self.db.read() as conn:
                rows = (await conn.execute(
                    select(media.c.key, media.c.thumb_key)
                    .where(or_(media.c.key.in_(keys), media.c.thumb_key.in_(keys)))
                )).all()
            used = {row.key for row in rows} | {row.thumb_key for row in rows}
            orphans.extend(o for o in old if o.key not in used)
        if not dry_run:
            for orphan in orphans:
                await self.store.delete(orphan.key)
        return orphans

    async def _save(
        self, owner_id: str, data: bytes, media_type: str, *, kind: str, job_id: str | None,
        meta: dict[str, Any], width: int | None = None, height: int | None = None,
    ) -> MediaItem:
        staged = await self._put(owner_id, data, media_type, kind=kind, job_id=job_id,
                                 meta=meta, width=width, height=height)
        try:
            async with self.db.write() as conn:
                return await self.record(conn, staged)
        except BaseException:
            await self.discard([staged])
            raise

    async def _put(
        self, owner_id: str, data: bytes, media_type: str, *, kind: str, job_id: str | None,
        meta: dict[str, Any], width: int | None, height: int | None,
    ) -> Staged:
        media_id = new_id()
        key = f"{owner_id}/{media_id}.{_EXT.get(media_type, 'bin')}"
        await self.store.put(key, data, media_type)
        return Staged(dict(
            id=media_id, owner_id=owner_id, kind=kind, key=key, media_type=media_type,
            size=len(data), width=width, height=height,
            sha256=hashlib.sha256(data).hexdigest(), job_id=job_id, meta=meta,
            created_at=utcnow(),
        ))


_INSERT = insert(media)  # built once: every finished job writes its outputs with it


async def record_staged(conn: AsyncConnection, staged: Sequence[Staged]) -> list[MediaItem]:
    """Write staged items' rows inside the caller's transaction, in one statement (the
    transaction that finishes a job records its outputs this way)."""
    if staged:
        await conn.execute(_INSERT, [dict(s.values) for s in staged])
    return [_item_of(s.values) for s in staged]


def _checked_output(
    raw: bytes, text: dict[str, str], max_pixels: int, max_bytes: int
) -> tuple[bytes, str, int, int] | None:
    """An engine output's bytes to store (a PNG with ``text`` spliced in), its media type and
    size; None when the full loader must decide."""
    checked = check_output(raw, max_pixels=max_pixels, max_bytes=max_bytes)
    if checked is None:
        return None
    data = png_with_text(raw, text) if checked.media_type == "image/png" else raw
    return data, checked.media_type, checked.width, checked.height


def add_png_text(png: bytes, text: dict[str, str]) -> bytes:
    """Insert ``iTXt`` chunks before IEND without re-encoding the image."""
    chunks = b""
    for key, value in text.items():
        body = key.encode("latin-1")[:79] + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")
        chunks += struct.pack(">I", len(body)) + b"iTXt" + body
        chunks += struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    end = png.rfind(b"IEND") - 4
    return png[:end] + chunks + png[end:]


def _item(row: Any) -> MediaItem:
    return MediaItem(
        id=row.id, owner_id=row.owner_id, kind=row.kind, key=row.key,
        media_type=row.media_type, size=row.size, width=row.width, height=row.height,
        sha256=row.sha256, job_id=row.job_id, meta=dict(row.meta or {}),
        created_at=as_utc(row.created_at),
    )


def _item_of(values: dict[str, Any]) -> MediaItem:
    return MediaItem(
        id=values["id"], owner_id=values["owner_id"], kind=values["kind"], key=values["key"],
        media_type=values["media_type"], size=values["size"], width=values["width"],
        height=values["height"], sha256=values["sha256"], job_id=values["job_id"],
        meta=dict(values["meta"]), created_at=values["created_at"],
    )


def _is_key(key: str) -> bool:
    try:
        check_key(key)
    except InvalidInput:
        return False  # not a name this service writes: never ours to delete
    return True

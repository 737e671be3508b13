"""Training datasets: images with captions, owned by one user.

Every image goes through the hardened loader and is normalised to the training resolution
(centre-cropped to a square, resized). Only the owner can see or change a dataset: for anyone
else it does not exist.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from PIL import Image, ImageOps
from sqlalchemy import delete, func, insert, select, update

from stationthis.core.archives import DatasetZip, ZipLimits
from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import Conflict, InvalidInput, NotFound
from stationthis.core.images import encode_png, load_image
from stationthis.core.media import MediaService, Staged
from stationthis.core.schema import dataset_images, datasets

MIN_IMAGES = 4  # the original's rule for a trainable dataset
NAME_MAX = 100
CAPTION_MAX = 1000


@dataclass(frozen=True)
class DatasetImage:
    id: str
    media_id: str
    caption: str | None
    position: int
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class Dataset:
    id: str
    owner_id: str
    name: str
    trigger: str
    base_model: str
    created_at: datetime
    updated_at: datetime
    images: tuple[DatasetImage, ...] = ()

    def caption_for(self, image: DatasetImage) -> str:
        """The caption used for training: the trigger word is added when it is missing."""
        caption = (image.caption or "").strip()
        if self.trigger.lower() in caption.lower():
            return caption
        return f"{self.trigger}, {caption}" if caption else self.trigger


@dataclass(frozen=True)
class PreparedImage:
    """An image through the hardened loader and normalised, with its cleaned caption: ready
    to be stored."""

    png: bytes
    caption: str | None


@dataclass(frozen=True)
class Readiness:
    images: int
    max_images: int
    captioned: int
    ready: bool
    reason: str  # why it is not ready, or "ready to train"
    warnings: tuple[str, ...] = ()


class DatasetService:
    def __init__(
        self, db: Database, media: MediaService, *, max_images: int = 20, resolution: int = 512
    ) -> None:
        self.db = db
        self.media = media
        self.max_images = max_images
        self.resolution = resolution

    # ----- datasets ----------------------------------------------------------------------

    async def create(
        self, owner_id: str, name: str, trigger: str | None = None, base_model: str = "sd15"
    ) -> Dataset:
        name = _clean_name(name)
        trigger = (trigger or name).strip()
        if not trigger or len(trigger) > 100 or any(c in trigger for c in ",\n"):
            raise InvalidInput("the trigger word must be 1–100 characters, without commas")
        now = utcnow()
        async with self.db.write() as conn:
            if await self._name_taken(conn, owner_id, name):
                raise Conflict(f"you already have a dataset named {name!r}")
            dataset_id = new_id()
            await conn.execute(insert(datasets).values(
                id=dataset_id, owner_id=owner_id, name=name, trigger=trigger,
                base_model=base_model, created_at=now, updated_at=now,
            ))
        return await self.get(owner_id, dataset_id)

    async def get(self, owner_id: str, dataset_id: str) -> Dataset:
        async with self.db.read() as conn:
            row = (await conn.execute(select(datasets).where(datasets.c.id == dataset_id))).first()
            if row is None or row.owner_id != owner_id:
                raise NotFound("no such dataset")
            images = (await conn.execute(
                select(dataset_images).where(dataset_images.c.dataset_id == dataset_id)
                .order_by(dataset_images.c.position)
            )).all()
        items = []
        for image in images:
            media = await self.media.get(image.media_id)
            items.append(DatasetImage(image.id, image.media_id, image.caption, image.position,
                                      media.sha256, media.width or 0, media.height or 0))
        return _dataset(row, tuple(items))

    async def list_for(self, owner_id: str) -> list[Dataset]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(datasets).where(datasets.c.owner_id == owner_id)
                .order_by(datasets.c.created_at)
            )).all()
        return [await self.get(owner_id, row.id) for row in rows]

    async def rename(self, owner_id: str, dataset_id: str, name: str) -> Dataset:
        await self.get(owner_id, dataset_id)
        name = _clean_name(name)
        async with self.db.write() as conn:
            if await self._name_taken(conn, owner_id, name, besides=dataset_id):
                raise Conflict(f"you already have a dataset named {name!r}")
            await conn.execute(update(datasets).where(datasets.c.id == dataset_id)
                               .values(name=name, updated_at=utcnow()))
        return await self.get(owner_id, dataset_id)

    async def delete(self, owner_id: str, dataset_id: str) -> None:
        await self.get(owner_id, dataset_id)
        async with self.db.write() as conn:
            await conn.execute(
                delete(dataset_images).where(dataset_images.c.dataset_id == dataset_id)
            )
            await conn.execute(delete(datasets).where(datasets.c.id == dataset_id))

    # ----- images ------------------------------------------------------------------------

    async def add_images(
        self, owner_id: str, dataset_id: str, images: list[tuple[bytes, str | None]]
    ) -> list[DatasetImage]:
        """Add images (raw bytes, optional caption). All or nothing: if any image or caption
        is refused or they do not fit in the free slots, nothing is added (no rows, no files)
        and the error says why."""
        dataset = await self.get(owner_id, dataset_id)
        self._check_fits(len(images), len(dataset.images))
        labels = [f"image {i}: " if len(images) > 1 else "" for i in range(1, len(images) + 1)]
        for label, (_, caption) in zip(labels, images, strict=True):  # the cheap checks first
            _clean_caption(caption, label)
        prepared = [await self.prepare(raw, caption, label)
                    for label, (raw, caption) in zip(labels, images, strict=True)]
        return await self.add_prepared(owner_id, dataset_id, prepared)

    async def import_zip(
        self, owner_id: str, dataset_id: str, source: bytes | BinaryIO
    ) -> list[DatasetImage]:
        """Add the images of a zip in the trainers' layout (image + same-stem .txt caption),
        all or nothing. The zip is checked from its directory before anything is read, then
        read one entry at a time with hard size caps (see `archives`)."""
        dataset = await self.get(owner_id, dataset_id)
        limits = ZipLimits(free_slots=self.max_images - len(dataset.images),
                           total_slots=self.max_images, image_bytes=self.media.max_bytes,
                           max_entries=4 * self.max_images + 32)
        prepared = []
        with DatasetZip(source, limits) as archive:
            for entry in archive.entries:
                label = f"{entry.name}: "
                caption = await asyncio.to_thread(archive.read_caption, entry)
                raw = await asyncio.to_thread(archive.read_image, entry)
                prepared.append(await self.prepare(raw, caption, label))
                del raw  # one image's bytes in memory at a time
        return await self.add_prepared(owner_id, dataset_id, prepared)

    async def prepare(self, raw: bytes, caption: str | None, label: str = "") -> PreparedImage:
        """Check and normalise one image and its caption; errors start with ``label``."""
        clean = _clean_caption(caption, label)
        try:
            png = await asyncio.to_thread(self._normalise, raw)
        except InvalidInput as exc:
            raise type(exc)(f"{label}{exc.message}") from None
        return PreparedImage(png, clean)

    async def add_prepared(
        self, owner_id: str, dataset_id: str, prepared: list[PreparedImage]
    ) -> list[DatasetImage]:
        """Store prepared images in one transaction; on any failure the stored files are
        deleted again and the dataset is as it was."""
        await self.get(owner_id, dataset_id)
        staged: list[Staged] = []
        try:
            for item in prepared:
                staged.append(await self.media.stage(owner_id, item.png, kind="dataset"))
            async with self.db.write() as conn:
                await self._touch(conn, dataset_id)  # first: locks the dataset's row
                count, last = (await conn.execute(
                    select(func.count(), func.coalesce(func.max(dataset_images.c.position), 0))
                    .where(dataset_images.c.dataset_id == dataset_id)
                )).one()
                self._check_fits(len(prepared), count)
                added = []
                for position, (file, item) in enumerate(zip(staged, prepared, strict=True),
                                                         start=last + 1):
                    stored = await self.media.record(conn, file)
                    image_id = new_id()
                    await conn.execute(insert(dataset_images).values(
                        id=image_id, dataset_id=dataset_id, media_id=stored.id,
                        caption=item.caption, position=position, created_at=utcnow(),
                    ))
                    added.append(DatasetImage(image_id, stored.id, item.caption, position,
                                              stored.sha256, stored.width or 0,
                                              stored.height or 0))
        except BaseException:
            await self.media.discard(staged)
            raise
        return added

    async def set_caption(
        self, owner_id: str, dataset_id: str, image_id: str, caption: str | None
    ) -> None:
        await self._own_image(owner_id, dataset_id, image_id)
        async with self.db.write() as conn:
            await conn.execute(update(dataset_images).where(dataset_images.c.id == image_id)
                               .values(caption=_clean_caption(caption)))
            await self._touch(conn, dataset_id)

    async def remove_image(self, owner_id: str, dataset_id: str, image_id: str) -> None:
        await self._own_image(owner_id, dataset_id, image_id)
        async with self.db.write() as conn:
            await conn.execute(delete(dataset_images).where(dataset_images.c.id == image_id))
            await self._touch(conn, dataset_id)

    # ----- readiness ---------------------------------------------------------------------

    def readiness(self, dataset: Dataset) -> Readiness:
        count = len(dataset.images)
        captioned = sum(1 for i in dataset.images if (i.caption or "").strip())
        warnings = []
        seen: dict[str, int] = {}
        for number, image in enumerate(dataset.images, start=1):
            if image.sha256 in seen:
                warnings.append(f"image {number} is a duplicate of image {seen[image.sha256]}")
            seen.setdefault(image.sha256, number)
            if min(image.width, image.height) < self.resolution // 2:
                warnings.append(f"image {number} is small ({image.width}×{image.height})")
        if count < MIN_IMAGES:
            reason = f"add {MIN_IMAGES - count} more image{'s' if MIN_IMAGES - count > 1 else ''}"
            reason += f" (at least {MIN_IMAGES} are needed)"
        elif captioned < count:
            missing = [str(n) for n, i in enumerate(dataset.images, 1) if not (i.caption or "")]
            reason = f"caption image{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        else:
            reason = "ready to train"
        return Readiness(count, self.max_images, captioned, reason == "ready to train", reason,
                         tuple(warnings))

    # ----- internals ---------------------------------------------------------------------

    def _normalise(self, raw: bytes) -> bytes:
        """Through the hardened loader, then centre-cropped to a square of the training
        resolution (smaller images are kept at their own size, never upscaled)."""
        loaded = load_image(raw, max_pixels=self.media.max_pixels, max_bytes=self.media.max_bytes)
        image = Image.open(io.BytesIO(loaded.data)).convert("RGB")
        side = min(image.size)
        size = min(side, self.resolution)
        return encode_png(ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS))

    def _check_fits(self, adding: int, present: int) -> None:
        free = max(self.max_images - present, 0)
        if adding > free:
            raise InvalidInput(
                f"{adding} images do not fit: this dataset has {free} free slot"
                f"{'s' if free != 1 else ''} of {self.max_images}"
            )

    async def _own_image(self, owner_id: str, dataset_id: str, image_id: str) -> None:
        dataset = await self.get(owner_id, dataset_id)
        if not any(i.id == image_id for i in dataset.images):
            raise NotFound("no such image in this dataset")

    async def _name_taken(
        self, conn: Any, owner_id: str, name: str, besides: str | None = None
    ) -> bool:
        query = select(datasets.c.id).where(
            datasets.c.owner_id == owner_id, func.lower(datasets.c.name) == name.lower()
        )
        if besides:
            query = query.where(datasets.c.id != besides)
        return (await conn.execute(query)).first() is not None

    async def _touch(self, conn: Any, dataset_id: str) -> None:
        await conn.execute(update(datasets).where(datasets.c.id == dataset_id)
                           .values(updated_at=utcnow()))


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"a dataset name must be 1–{NAME_MAX} characters")
    return name


def _clean_caption(caption: str | None, label: str = "") -> str | None:
    if caption is None:
        return None
    if len(caption) > 100 * CAPTION_MAX:  # no need to split a huge text to refuse it
        raise InvalidInput(f"{label}a caption is at most {CAPTION_MAX} characters")
    caption = " ".join(caption.split())
    if len(caption) > CAPTION_MAX:
        raise InvalidInput(f"{label}a caption is at most {CAPTION_MAX} characters")
    return caption or None


def _dataset(row: Any, images: tuple[DatasetImage, ...]) -> Dataset:
    return Dataset(
        id=row.id, owner_id=row.owner_id, name=row.name, trigger=row.trigger,
        base_model=row.base_model, created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at), images=images,
    )

"""Collections: named, ordered sets of images owned by one account, shared with other users
(view or edit) or by link. This module is storage and access rules; the use cases are in
``workflows/collections.py``.

Access: the owner may do everything; an ``edit`` share may change the name, description and
items; a ``view`` share may only look. For anyone else the collection does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.db import Database, as_utc, new_id, utcnow
from stationthis.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from stationthis.core.schema import (
    collection_items,
    collection_links,
    collection_shares,
    collections,
    cook_pieces,
    cook_runs,
)

NAME_MAX = 100
TEXT_MAX = 2000
_RANK = {"view": 1, "edit": 2, "owner": 3}


@dataclass(frozen=True)
class Collection:
    id: str
    owner_id: str
    name: str
    description: str | None
    cook: dict[str, Any] | None
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    items: int = 0
    access: str = "owner"  # what the reader may do: owner | edit | view


@dataclass(frozen=True)
class Item:
    id: str
    collection_id: str
    media_id: str
    name: str | None
    description: str | None
    attributes: list[dict[str, Any]]
    piece_id: str | None
    position: int
    added_by: str
    created_at: datetime


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > NAME_MAX:
        raise InvalidInput(f"a collection name must be 1–{NAME_MAX} characters")
    return name


def clean_text(text: str | None, what: str = "a description") -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"{what} is at most {TEXT_MAX} characters")
    return text or None


class CollectionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----- collections -------------------------------------------------------------------

    async def create(self, owner_id: str, name: str, description: str | None = None) -> str:
        name = clean_name(name)
        description = clean_text(description)
        now = utcnow()
        async with self.db.write() as conn:
            if await self._name_taken(conn, owner_id, name):
                raise Conflict(f"you already have a collection named {name!r}")
            collection_id = new_id()
            await conn.execute(insert(collections).values(
                id=collection_id, owner_id=owner_id, name=name, description=description,
                cook=None, meta={}, created_at=now, updated_at=now,
            ))
        return collection_id

    async def get(self, reader_id: str, collection_id: str, need: str = "view") -> Collection:
        """The collection as ``reader_id`` sees it. Someone without access gets NotFound; a
        reader whose access is below ``need`` (view | edit | owner) gets Forbidden."""
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(collections).where(collections.c.id == collection_id)
            )).first()
            access = await self._access(conn, row, reader_id)
            if row is None or access is None:
                raise NotFound("no such collection")
            count = await self._count(conn, collection_id)
        if _RANK[access] < _RANK[need]:
            if access == "view" and need == "edit":
                raise Forbidden("you can only view this collection: ask its owner for edit "
                                "access")
            raise Forbidden("only the owner of this collection can do that")
        return _collection(row, count, access)

    async def get_any(self, collection_id: str) -> Collection:
        """Without an access check: for share links and background work."""
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(collections).where(collections.c.id == collection_id)
            )).first()
            if row is None:
                raise NotFound("no such collection")
            return _collection(row, await self._count(conn, collection_id), "view")

    async def owned(self, owner_id: str) -> list[Collection]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(collections).where(collections.c.owner_id == owner_id)
                .order_by(collections.c.created_at, collections.c.id)
            )).all()
            return [_collection(r, await self._count(conn, r.id), "owner") for r in rows]

    async def shared_with(self, account_id: str) -> list[Collection]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(collections, collection_shares.c.permission)
                .join(collection_shares, collection_shares.c.collection_id == collections.c.id)
                .where(collection_shares.c.account_id == account_id)
                .order_by(collection_shares.c.created_at, collections.c.id)
            )).all()
            return [_collection(r, await self._count(conn, r.id), r.permission) for r in rows]

    async def update(self, collection_id: str, **values: Any) -> None:
        async with self.db.write() as conn:
            if "name" in values:
                owner = (await conn.execute(select(collections.c.owner_id)
                                            .where(collections.c.id == collection_id))).scalar()
                if await self._name_taken(conn, str(owner), values["name"], collection_id):
                    raise Conflict(f"a collection named {values['name']!r} already exists")
            await conn.execute(update(collections).where(collections.c.id == collection_id)
                               .values(updated_at=utcnow(), **values))

    async def delete(self, collection_id: str) -> None:
        async with self.db.write() as conn:
            runs = select(cook_runs.c.id).where(cook_runs.c.collection_id == collection_id)
            await conn.execute(delete(cook_pieces).where(cook_pieces.c.run_id.in_(runs)))
            await conn.execute(delete(cook_runs).where(cook_runs.c.collection_id == collection_id))
            for table in (collection_items, collection_shares, collection_links):
                await conn.execute(delete(table).where(table.c.collection_id == collection_id))
            await conn.execute(delete(collections).where(collections.c.id == collection_id))

    async def running_jobs(self, collection_id: str) -> list[str]:
        """Stop the collection's cook runs (nothing new starts) and return the jobs of
        their pieces that may still be running."""
        async with self.db.write() as conn:
            await conn.execute(
                update(cook_runs).where(cook_runs.c.collection_id == collection_id,
                                        cook_runs.c.state.in_(("running", "paused")))
                .values(state="cancelled", updated_at=utcnow())
            )
            found = (await conn.execute(
                select(cook_pieces.c.job_id)
                .join(cook_runs, cook_runs.c.id == cook_pieces.c.run_id)
                .where(cook_runs.c.collection_id == collection_id,
                       cook_pieces.c.state == "running", cook_pieces.c.job_id.is_not(None))
            )).scalars().all()
        return [str(j) for j in found]

    # ----- items -------------------------------------------------------------------------

    async def items(self, collection_id: str, offset: int = 0,
                    limit: int | None = None) -> tuple[list[Item], int]:
        query = (select(collection_items).where(collection_items.c.collection_id == collection_id)
                 .order_by(collection_items.c.position, collection_items.c.id).offset(offset))
        if limit is not None:
            query = query.limit(limit)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
            total = await self._count(conn, collection_id)
        return [_item(r) for r in rows], total

    async def item(self, collection_id: str, item_id: str) -> Item:
        async with self.db.read() as conn:
            row = (await conn.execute(select(collection_items).where(
                collection_items.c.id == item_id,
                collection_items.c.collection_id == collection_id,
            ))).first()
        if row is None:
            raise NotFound("no such item in this collection")
        return _item(row)

    async def add_item(
        self, collection_id: str, media_id: str, added_by: str, *, name: str | None = None,
        description: str | None = None, attributes: list[dict[str, Any]] | None = None,
        piece_id: str | None = None,
    ) -> Item:
        item_id = new_id()
        async with self.db.write() as conn:
            position = (await conn.execute(
                select(func.coalesce(func.max(collection_items.c.position), 0))
                .where(collection_items.c.collection_id == collection_id)
            )).scalar_one() + 1
            await conn.execute(insert(collection_items).values(
                id=item_id, collection_id=collection_id, media_id=media_id, name=name,
                description=clean_text(description), attributes=attributes or [],
                piece_id=piece_id, position=position, added_by=added_by, created_at=utcnow(),
            ))
            await self._touch(conn, collection_id)
        return await self.item(collection_id, item_id)

    async def update_item(self, collection_id: str, item_id: str, **values: Any) -> Item:
        await self.item(collection_id, item_id)
        async with self.db.write() as conn:
            await conn.execute(update(collection_items)
                               .where(collection_items.c.id == item_id).values(**values))
            await self._touch(conn, collection_id)
        return await self.item(collection_id, item_id)

    async def remove_item(self, collection_id: str, item_id: str) -> None:
        await self.item(collection_id, item_id)
        async with self.db.write() as conn:
            await conn.execute(delete(collection_items).where(collection_items.c.id == item_id))
            await self._touch(conn, collection_id)

    async def remove_piece(self, collection_id: str, piece_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(collection_items).where(
                collection_items.c.collection_id == collection_id,
                collection_items.c.piece_id == piece_id,
            ))

    async def move_item(self, collection_id: str, item_id: str, position: int) -> None:
        """Move an item to ``position`` (1 = first); the others keep their order."""
        items, total = await self.items(collection_id)
        if not 1 <= position <= total:
            raise InvalidInput(f"positions go from 1 to {total}")
        moving = next((i for i in items if i.id == item_id), None)
        if moving is None:
            raise NotFound("no such item in this collection")
        order = [i for i in items if i.id != item_id]
        order.insert(position - 1, moving)
        async with self.db.write() as conn:
            for number, item in enumerate(order, start=1):
                if item.position != number:
                    await conn.execute(update(collection_items)
                                       .where(collection_items.c.id == item.id)
                                       .values(position=number))
            await self._touch(conn, collection_id)

    # ----- internals ---------------------------------------------------------------------

    async def _access(self, conn: AsyncConnection, row: Any, reader_id: str) -> str | None:
        if row is None:
            return None
        if row.owner_id == reader_id:
            return "owner"
        permission = (await conn.execute(select(collection_shares.c.permission).where(
            collection_shares.c.collection_id == row.id,
            collection_shares.c.account_id == reader_id,
        ))).scalar_one_or_none()
        return str(permission) if permission else None

    async def _count(self, conn: AsyncConnection, collection_id: str) -> int:
        return int((await conn.execute(
            select(func.count()).select_from(collection_items)
            .where(collection_items.c.collection_id == collection_id)
        )).scalar_one())

    async def _name_taken(self, conn: AsyncConnection, owner_id: str, name: str,
                          besides: str | None = None) -> bool:
        query = select(collections.c.id).where(collections.c.owner_id == owner_id,
                                               func.lower(collections.c.name) == name.lower())
        if besides:
            query = query.where(collections.c.id != besides)
        return (await conn.execute(query)).first() is not None

    async def _touch(self, conn: AsyncConnection, collection_id: str) -> None:
        await conn.execute(update(collections).where(collections.c.id == collection_id)
                           .values(updated_at=utcnow()))


def _collection(row: Any, count: int, access: str) -> Collection:
    return Collection(
        id=row.id, owner_id=row.owner_id, name=row.name, description=row.description,
        cook=dict(row.cook) if row.cook else None, meta=dict(row.meta or {}),
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at), items=count,
        access=access,
    )


def _item(row: Any) -> Item:
    return Item(
        id=row.id, collection_id=row.collection_id, media_id=row.media_id, name=row.name,
        description=row.description, attributes=list(row.attributes or []),
        piece_id=row.piece_id, position=row.position, added_by=row.added_by,
        created_at=as_utc(row.created_at),
    )

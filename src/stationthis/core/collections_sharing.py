"""Sharing a collection: with other users (view or edit, changed or revoked by the owner)
and by read-only link (a random 32-hex token expiring after 24h, 7d, 30d or never). Also what
account linking does to collections. Access checks are the caller's (``CollectionStore.get``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stationthis.core.collections import NAME_MAX
from stationthis.core.db import Database, as_utc, utcnow
from stationthis.core.errors import Conflict, InvalidInput, NotFound
from stationthis.core.schema import (
    accounts,
    collection_items,
    collection_links,
    collection_shares,
    collections,
    identities,
)

PERMISSIONS = ("view", "edit")
EXPIRIES: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
    "never": None,
}


@dataclass(frozen=True)
class Share:
    collection_id: str
    account_id: str
    permission: str
    created_at: datetime


@dataclass(frozen=True)
class Link:
    token: str
    collection_id: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    checked_at: datetime = field(default_factory=utcnow)

    @property
    def status(self) -> str:
        """active | expired | revoked"""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= self.checked_at:
            return "expired"
        return "active"


class SharingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ----- sharing -----------------------------------------------------------------------

    async def share(self, collection_id: str, account_id: str, permission: str) -> Share:
        if permission not in PERMISSIONS:
            raise InvalidInput("a share gives 'view' or 'edit' permission")
        now = utcnow()
        async with self.db.write() as conn:
            done = await conn.execute(update(collection_shares).where(
                collection_shares.c.collection_id == collection_id,
                collection_shares.c.account_id == account_id,
            ).values(permission=permission))
            if not done.rowcount:
                await conn.execute(insert(collection_shares).values(
                    collection_id=collection_id, account_id=account_id,
                    permission=permission, created_at=now,
                ))
        return next(s for s in await self.shares(collection_id) if s.account_id == account_id)

    async def unshare(self, collection_id: str, account_id: str) -> bool:
        async with self.db.write() as conn:
            done = await conn.execute(delete(collection_shares).where(
                collection_shares.c.collection_id == collection_id,
                collection_shares.c.account_id == account_id,
            ))
        return bool(done.rowcount)

    async def shares(self, collection_id: str) -> list[Share]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(collection_shares)
                .where(collection_shares.c.collection_id == collection_id)
                .order_by(collection_shares.c.created_at)
            )).all()
        return [Share(r.collection_id, r.account_id, r.permission, as_utc(r.created_at))
                for r in rows]

    # ----- links -------------------------------------------------------------------------

    async def create_link(self, collection_id: str, expiry: str) -> Link:
        if expiry not in EXPIRIES:
            raise InvalidInput(f"a link expires after {', '.join(EXPIRIES)} (got {expiry!r})")
        now = utcnow()
        ttl = EXPIRIES[expiry]
        token = secrets.token_hex(16)
        async with self.db.write() as conn:
            await conn.execute(insert(collection_links).values(
                token=token, collection_id=collection_id,
                expires_at=now + ttl if ttl is not None else None, revoked_at=None,
                created_at=now,
            ))
        return await self.link(token)

    async def link(self, token: str) -> Link:
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(collection_links).where(collection_links.c.token == str(token).lower())
            )).first()
        if row is None:
            raise NotFound("this share link does not exist")
        return _link(row)

    async def links(self, collection_id: str) -> list[Link]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(collection_links).where(collection_links.c.collection_id == collection_id)
                .order_by(collection_links.c.created_at)
            )).all()
        return [_link(r) for r in rows]

    async def revoke_link(self, collection_id: str, token: str) -> Link:
        async with self.db.write() as conn:
            done = await conn.execute(update(collection_links).where(
                collection_links.c.token == token,
                collection_links.c.collection_id == collection_id,
                collection_links.c.revoked_at.is_(None),
            ).values(revoked_at=utcnow()))
        link = await self.link(token)
        if link.collection_id != collection_id:
            raise NotFound("this share link does not exist")
        if not done.rowcount:
            raise Conflict("this link was already revoked")
        return link


async def move_collections(conn: AsyncConnection, source: str, target: str) -> None:
    """Account linking: ``source``'s collections (and shares given to it) move to ``target``.
    A name the target already uses gets a number; a share the target already has, or one of
    the target's own collections, is dropped."""
    taken = {str(n).lower() for n in (await conn.execute(
        select(collections.c.name).where(collections.c.owner_id == target))).scalars()}
    for collection_id, name in (await conn.execute(
        select(collections.c.id, collections.c.name).where(collections.c.owner_id == source)
    )).all():
        unique, number = str(name), 2
        while unique.lower() in taken:
            unique, number = f"{name} {number}", number + 1
        taken.add(unique.lower())
        await conn.execute(update(collections).where(collections.c.id == collection_id)
                           .values(owner_id=target, name=unique[:NAME_MAX]))
    owned = select(collections.c.id).where(collections.c.owner_id == target)
    already = select(collection_shares.c.collection_id).where(
        collection_shares.c.account_id == target)
    await conn.execute(delete(collection_shares).where(
        collection_shares.c.account_id.in_([source, target]),
        collection_shares.c.collection_id.in_(owned),
    ))
    await conn.execute(delete(collection_shares).where(
        collection_shares.c.account_id == source,
        collection_shares.c.collection_id.in_(already),
    ))
    await conn.execute(update(collection_shares).where(collection_shares.c.account_id == source)
                       .values(account_id=target))
    await conn.execute(update(collection_items).where(collection_items.c.added_by == source)
                       .values(added_by=target))


async def find_user(db: Database, platform: str, external_id: str) -> str | None:
    """The account id of an existing user behind a platform identity (never creates one)."""
    async with db.read() as conn:
        row = (await conn.execute(
            select(accounts.c.id, accounts.c.kind)
            .join(identities, identities.c.account_id == accounts.c.id)
            .where(identities.c.platform == platform, identities.c.external_id == external_id)
        )).first()
    return str(row.id) if row is not None and row.kind == "user" else None


def _link(row: Any) -> Link:
    return Link(
        token=row.token, collection_id=row.collection_id,
        expires_at=as_utc(row.expires_at) if row.expires_at is not None else None,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
        created_at=as_utc(row.created_at),
    )

"""The bodies and answers of the collections API (``collections.py``,
``collections_links.py``; ``cook.py`` shows pieces as items too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from stationthis.core.collections import Collection, Item
from stationthis.core.collections_sharing import Link
from stationthis.platforms.web.errors import ErrorBody
from stationthis.workflows.collections import ItemPage, ShareView

AUTH = (401, 403)
GONE: dict[int | str, dict[str, Any]] = {410: {
    "model": ErrorBody, "description": "the share link expired or was revoked (`link_gone`)"}}
ZIP: dict[int | str, dict[str, Any]] = {200: {"description": "a zip", "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}
JPEG: dict[int | str, dict[str, Any]] = {200: {"description": "a small JPEG", "content": {
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}}
PNG: dict[int | str, dict[str, Any]] = {200: {"description": "the image", "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}}
Page = Query(1, ge=1, le=100_000)
PerPage = Query(20, ge=1, le=100)


# ----- bodies and answers -------------------------------------------------------------------

class NewCollection(BaseModel):
    name: str = Field(max_length=100)
    description: str | None = Field(None, max_length=2000)


class CollectionChange(BaseModel):
    name: str | None = Field(None, max_length=100, description="unchanged when left out")
    description: str | None = Field(None, max_length=2000,
                                    description="an empty string clears it")


class Metadata(BaseModel):
    royalty: float | None = Field(None, ge=0, le=100, description="percent")
    edition_title: str | None = Field(None, max_length=2000)
    chain: str | None = Field(None, max_length=2000)
    standard: str | None = Field(None, max_length=2000)
    external_url: str | None = Field(None, max_length=2000)
    image_base_uri: str | None = Field(None, max_length=2000,
                                       description="where the images will live: ipfs://CID")


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str | None
    owner_id: str
    access: str = Field(description="what you may do: owner | edit | view")
    items: int
    meta: dict[str, Any]
    cooked: bool = Field(description="it has a cook configuration")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Collection) -> CollectionOut:
        return cls(id=c.id, name=c.name, description=c.description, owner_id=c.owner_id,
                   access=c.access, items=c.items, meta=c.meta, cooked=bool(c.cook),
                   created_at=c.created_at, updated_at=c.updated_at)


class CollectionsOut(BaseModel):
    mine: list[CollectionOut]
    shared_with_me: list[CollectionOut]


class AttributeOut(BaseModel):
    trait_type: str
    value: str


class ItemOut(BaseModel):
    id: str
    media_id: str
    name: str | None
    description: str | None
    attributes: list[AttributeOut]
    position: int
    from_cook: bool
    created_at: datetime
    thumbnail_url: str
    image_url: str

    @classmethod
    def of(cls, item: Item, base: str) -> ItemOut:
        return cls(id=item.id, media_id=item.media_id, name=item.name,
                   description=item.description,
                   attributes=[AttributeOut(trait_type=str(a.get("trait_type", "")),
                                            value=str(a.get("value", "")))
                               for a in item.attributes],
                   position=item.position, from_cook=item.piece_id is not None,
                   created_at=item.created_at, thumbnail_url=f"{base}/{item.id}/thumbnail",
                   image_url=f"{base}/{item.id}/image")


class ItemPageOut(BaseModel):
    collection: CollectionOut
    items: list[ItemOut]
    page: int
    pages: int
    total: int

    @classmethod
    def of(cls, view: ItemPage, base: str) -> ItemPageOut:
        return cls(collection=CollectionOut.of(view.collection),
                   items=[ItemOut.of(i, base) for i in view.items], page=view.page,
                   pages=view.pages, total=view.total)


class NewItem(BaseModel):
    media_id: str = Field(max_length=64, description="one of your images (output or upload)")
    description: str | None = Field(None, max_length=2000)


class ItemChange(BaseModel):
    description: str | None = Field(max_length=2000, description="null or empty clears it")


class Move(BaseModel):
    position: int = Field(ge=1, le=1_000_000, description="1 = first")


class ShareIn(BaseModel):
    user: str = Field(max_length=200, description="a username (web) or PLATFORM:ID")
    permission: Literal["view", "edit"] = "view"


class ShareOut(BaseModel):
    user: str
    permission: str
    created_at: datetime

    @classmethod
    def of(cls, view: ShareView) -> ShareOut:
        return cls(user=view.user, permission=view.share.permission,
                   created_at=view.share.created_at)


class NewLink(BaseModel):
    expires: Literal["24h", "7d", "30d", "never"] = "7d"


class LinkOut(BaseModel):
    token: str
    url: str = Field(description="the read-only page anyone with the link can open")
    status: str = Field(description="active | expired | revoked")
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        return cls(token=link.token, url=f"/c/{link.token}", status=link.status,
                   expires_at=link.expires_at, revoked_at=link.revoked_at,
                   created_at=link.created_at)


class SharedOut(BaseModel):
    """What a share link shows: the collection and a page of its items, read-only."""

    name: str
    description: str | None
    items: list[ItemOut]
    page: int
    pages: int
    total: int
    expires_at: datetime | None


def items_base(collection_id: str) -> str:
    return f"/api/v1/collections/{collection_id}/items"

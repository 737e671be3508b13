"""Collections: CRUD, items (outputs and uploads, descriptions, order, thumbnails, paging),
sharing with users and by expiring link (read without signing in at ``/api/v1/links/…``),
export and "make a dataset from this collection". Cook mode is in ``cook.py``.

Another user's collection is 404; a change a view-only share may not make is 403. A share
link that expired or was revoked is 410 (``link_gone``), an unknown one 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ....core.collections import Collection, Item
from ....core.collections_sharing import Link
from ....core.errors import Forbidden
from ....core.users import Account
from ....workflows.collections import ItemPage, ShareView
from ..auth import current_account, station
from ..errors import ErrorBody, documented, error_response
from .datasets import DatasetOut, dataset_out
from .media import read_upload
from .views import Done

router = APIRouter(prefix="/api/v1", tags=["collections"])
_AUTH = (401, 403)
_GONE: dict[int | str, dict[str, Any]] = {410: {
    "model": ErrorBody, "description": "the share link expired or was revoked (`link_gone`)"}}
_ZIP: dict[int | str, dict[str, Any]] = {200: {"description": "a zip", "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}
_JPEG: dict[int | str, dict[str, Any]] = {200: {"description": "a small JPEG", "content": {
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}}
_PNG: dict[int | str, dict[str, Any]] = {200: {"description": "the image", "content": {
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


class NewDataset(BaseModel):
    name: str = Field(max_length=100)
    trigger: str | None = Field(None, max_length=100, description="default: the name")


def items_base(collection_id: str) -> str:
    return f"/api/v1/collections/{collection_id}/items"


# ----- collections ----------------------------------------------------------------------------

@router.get("/collections", response_model=CollectionsOut, responses=documented(*_AUTH))
async def list_collections(request: Request,
                           user: Account = Depends(current_account)) -> CollectionsOut:
    """Your collections, and those shared with you (with what you may do)."""
    c = station(request).collections
    return CollectionsOut(mine=[CollectionOut.of(x) for x in await c.mine(user)],
                          shared_with_me=[CollectionOut.of(x)
                                          for x in await c.shared_with_me(user)])


@router.post("/collections", status_code=201, response_model=CollectionOut,
             responses=documented(*_AUTH, 400, 409, 422))
async def create_collection(body: NewCollection, request: Request,
                            user: Account = Depends(current_account)) -> CollectionOut:
    made = await station(request).collections.create(user, body.name, body.description)
    return CollectionOut.of(made)


@router.get("/collections/{collection_id}", response_model=CollectionOut,
            responses=documented(*_AUTH, 404))
async def get_collection(collection_id: str, request: Request,
                         user: Account = Depends(current_account)) -> CollectionOut:
    return CollectionOut.of(await station(request).collections.view(user, collection_id))


@router.patch("/collections/{collection_id}", response_model=CollectionOut,
              responses=documented(*_AUTH, 400, 404, 409, 422))
async def change_collection(collection_id: str, body: CollectionChange, request: Request,
                            user: Account = Depends(current_account)) -> CollectionOut:
    """Rename and/or describe (owner or an edit share)."""
    c = station(request).collections
    found = await c.view(user, collection_id)
    if body.name is not None:
        found = await c.rename(user, collection_id, body.name)
    if "description" in body.model_fields_set:
        found = await c.describe(user, collection_id, body.description)
    return CollectionOut.of(found)


@router.patch("/collections/{collection_id}/metadata", response_model=CollectionOut,
              responses=documented(*_AUTH, 400, 404, 422))
async def change_metadata(collection_id: str, body: Metadata, request: Request,
                          user: Account = Depends(current_account)) -> CollectionOut:
    """Export metadata (owner only); a field sent as null is removed."""
    values = {k: getattr(body, k) for k in body.model_fields_set}
    return CollectionOut.of(await station(request).collections.set_metadata(
        user, collection_id, **values))


@router.delete("/collections/{collection_id}", response_model=Done,
               responses=documented(*_AUTH, 404))
async def delete_collection(collection_id: str, request: Request,
                            user: Account = Depends(current_account)) -> Done:
    """Owner only. Its images stay in your gallery; a cook run in progress stops."""
    await station(request).collections.delete(user, collection_id)
    return Done()


# ----- items ----------------------------------------------------------------------------------

@router.get("/collections/{collection_id}/items", response_model=ItemPageOut,
            responses=documented(*_AUTH, 400, 404))
async def list_items(collection_id: str, request: Request, page: int = Page,
                     per_page: int = PerPage,
                     user: Account = Depends(current_account)) -> ItemPageOut:
    view = await station(request).collections.items(user, collection_id, page, per_page)
    return ItemPageOut.of(view, items_base(collection_id))


@router.post("/collections/{collection_id}/items", status_code=201, response_model=ItemOut,
             responses=documented(*_AUTH, 400, 404, 422))
async def add_item(collection_id: str, body: NewItem, request: Request,
                   user: Account = Depends(current_account)) -> ItemOut:
    """Add one of your images (a job's output or an upload) by its media id."""
    item = await station(request).collections.add_output(user, collection_id, body.media_id,
                                                         body.description)
    return ItemOut.of(item, items_base(collection_id))


@router.post("/collections/{collection_id}/uploads", status_code=201, response_model=ItemOut,
             responses=documented(*_AUTH, 400, 404, 413, 422))
async def add_upload(
    collection_id: str, request: Request,
    file: UploadFile = File(description="a PNG, JPEG or WEBP image"),
    description: str | None = Form(None, max_length=2000),
    user: Account = Depends(current_account),
) -> ItemOut:
    """Upload an image straight into the collection (checked like any upload)."""
    app = station(request)
    await app.collections.view(user, collection_id)  # someone else's: 404 first
    data = await read_upload(request, file)
    item = await app.collections.add_upload(user, collection_id, data, description)
    return ItemOut.of(item, items_base(collection_id))


@router.patch("/collections/{collection_id}/items/{item_id}", response_model=ItemOut,
              responses=documented(*_AUTH, 400, 404, 422))
async def edit_item(collection_id: str, item_id: str, body: ItemChange, request: Request,
                    user: Account = Depends(current_account)) -> ItemOut:
    item = await station(request).collections.edit_item(user, collection_id, item_id,
                                                        body.description)
    return ItemOut.of(item, items_base(collection_id))


@router.delete("/collections/{collection_id}/items/{item_id}", response_model=Done,
               responses=documented(*_AUTH, 404))
async def remove_item(collection_id: str, item_id: str, request: Request,
                      user: Account = Depends(current_account)) -> Done:
    """Take the image out of the collection (it stays in your gallery)."""
    await station(request).collections.remove_item(user, collection_id, item_id)
    return Done()


@router.post("/collections/{collection_id}/items/{item_id}/move", response_model=ItemPageOut,
             responses=documented(*_AUTH, 400, 404, 422))
async def move_item(collection_id: str, item_id: str, body: Move, request: Request,
                    user: Account = Depends(current_account)) -> ItemPageOut:
    """Move an item to a position (1 = first); answers the first 100 items in order."""
    view = await station(request).collections.move_item(user, collection_id, item_id,
                                                        body.position)
    return ItemPageOut.of(view, items_base(collection_id))


@router.get("/collections/{collection_id}/items/{item_id}/thumbnail", response_class=Response,
            responses={**_JPEG, **documented(*_AUTH, 404)})
async def item_thumbnail(collection_id: str, item_id: str, request: Request,
                         user: Account = Depends(current_account)) -> Response:
    data = await station(request).collections.thumbnail(user, collection_id, item_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})


@router.get("/collections/{collection_id}/items/{item_id}/image", response_class=Response,
            responses={**_PNG, **documented(*_AUTH, 404)})
async def item_image(collection_id: str, item_id: str, request: Request,
                     user: Account = Depends(current_account)) -> Response:
    data = await station(request).collections.image(user, collection_id, item_id)
    return Response(data, media_type="image/png", headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


# ----- sharing with users -----------------------------------------------------------------

@router.get("/collections/{collection_id}/shares", response_model=list[ShareOut],
            responses=documented(*_AUTH, 404))
async def list_shares(collection_id: str, request: Request,
                      user: Account = Depends(current_account)) -> list[ShareOut]:
    views = await station(request).collections.shares(user, collection_id)
    return [ShareOut.of(v) for v in views]


@router.put("/collections/{collection_id}/shares", response_model=ShareOut,
            responses=documented(*_AUTH, 400, 404, 422))
async def share(collection_id: str, body: ShareIn, request: Request,
                user: Account = Depends(current_account)) -> ShareOut:
    """Share with an existing user, or change their permission (owner only)."""
    view = await station(request).collections.share(user, collection_id, body.user,
                                                    body.permission)
    return ShareOut.of(view)


@router.delete("/collections/{collection_id}/shares/{other}", response_model=Done,
               responses=documented(*_AUTH, 400, 404))
async def unshare(collection_id: str, other: str, request: Request,
                  user: Account = Depends(current_account)) -> Done:
    """Stop sharing with that user (a username or PLATFORM:ID)."""
    await station(request).collections.unshare(user, collection_id, other)
    return Done()


# ----- share links -------------------------------------------------------------------------

@router.get("/collections/{collection_id}/links", response_model=list[LinkOut],
            responses=documented(*_AUTH, 404))
async def list_links(collection_id: str, request: Request,
                     user: Account = Depends(current_account)) -> list[LinkOut]:
    return [LinkOut.of(x) for x in await station(request).collections.links(user,
                                                                            collection_id)]


@router.post("/collections/{collection_id}/links", status_code=201, response_model=LinkOut,
             responses=documented(*_AUTH, 400, 404, 422))
async def create_link(collection_id: str, body: NewLink, request: Request,
                      user: Account = Depends(current_account)) -> LinkOut:
    """A read-only link anyone can open without signing in, until it expires."""
    made = await station(request).collections.create_link(user, collection_id, body.expires)
    return LinkOut.of(made)


@router.delete("/collections/{collection_id}/links/{token}", response_model=LinkOut,
               responses=documented(*_AUTH, 404, 409))
async def revoke_link(collection_id: str, token: str, request: Request,
                      user: Account = Depends(current_account)) -> LinkOut:
    link = await station(request).collections.revoke_link(user, collection_id, token)
    return LinkOut.of(link)


async def _gone(call: Any) -> Any:
    try:
        return await call
    except Forbidden as exc:
        return error_response(410, "link_gone", exc.message)


@router.get("/links/{token}", response_model=SharedOut,
            responses={**documented(400, 404), **_GONE})
async def open_link(token: str, request: Request, page: int = Page,
                    per_page: int = PerPage) -> Any:
    """A shared collection, read-only, without signing in."""
    found = await _gone(station(request).collections.open_link(token, page, per_page))
    if isinstance(found, Response):
        return found
    view = found.items
    base = f"/api/v1/links/{token}/items"
    return SharedOut(name=found.collection.name, description=found.collection.description,
                     items=[ItemOut.of(i, base) for i in view.items], page=view.page,
                     pages=view.pages, total=view.total, expires_at=found.link.expires_at)


async def _link_image(request: Request, token: str, item_id: str, thumbnail: bool
                      ) -> Response:
    found = await _gone(station(request).collections.link_image(token, item_id,
                                                                thumbnail=thumbnail))
    if isinstance(found, Response):
        return found
    return Response(found, media_type="image/jpeg" if thumbnail else "image/png", headers={
        "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})


@router.get("/links/{token}/items/{item_id}/thumbnail", response_class=Response,
            responses={**_JPEG, **documented(404), **_GONE})
async def link_thumbnail(token: str, item_id: str, request: Request) -> Response:
    return await _link_image(request, token, item_id, True)


@router.get("/links/{token}/items/{item_id}/image", response_class=Response,
            responses={**_PNG, **documented(404), **_GONE})
async def link_image(token: str, item_id: str, request: Request) -> Response:
    return await _link_image(request, token, item_id, False)


# ----- export and dataset ----------------------------------------------------------------

@router.get("/collections/{collection_id}/export", response_class=Response,
            responses={**_ZIP, **documented(*_AUTH, 400, 404)})
async def export(collection_id: str, request: Request,
                 layout: Literal["nft", "captions"] = "nft",
                 user: Account = Depends(current_account)) -> Response:
    """``nft``: images/N.png + metadata/N.json + collection.json; ``captions``: NNN.png +
    NNN.txt (the layout the dataset import reads)."""
    out = station(request).collections.export
    data = await (out.nft_zip(user, collection_id) if layout == "nft"
                  else out.captions_zip(user, collection_id))
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition":
            f'attachment; filename="collection-{collection_id}-{layout}.zip"'})


@router.post("/collections/{collection_id}/dataset", status_code=201, response_model=DatasetOut,
             responses=documented(*_AUTH, 400, 404, 409, 422))
async def to_dataset(collection_id: str, body: NewDataset, request: Request,
                     user: Account = Depends(current_account)) -> DatasetOut:
    """A new training dataset from the collection's images, captioned by their
    descriptions (else their prompts)."""
    app = station(request)
    made = await app.training.dataset_from_collection(user, app.collections, collection_id,
                                                      body.name, body.trigger)
    return dataset_out(await app.training.view(user, made.id))

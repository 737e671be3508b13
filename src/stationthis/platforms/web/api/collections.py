"""Collections: CRUD, items (outputs and uploads, descriptions, order, thumbnails, paging),
sharing with users and by expiring link (read without signing in at ``/api/v1/links/…``),
export and "make a dataset from this collection". Collections, items, sharing with users and
the dataset are here; share links and export in ``collections_links.py``; the bodies and
answers in ``collections_schemas.py``; cook mode in ``cook.py``.

Another user's collection is 404; a change a view-only share may not make is 403. A share
link that expired or was revoked is 410 (``link_gone``), an unknown one 404."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from stationthis.core.users import Account
from stationthis.platforms.web.api.collections_schemas import (
    AUTH,
    JPEG,
    PNG,
    CollectionChange,
    CollectionOut,
    CollectionsOut,
    ItemChange,
    ItemOut,
    ItemPageOut,
    Metadata,
    Move,
    NewCollection,
    NewItem,
    Page,
    PerPage,
    ShareIn,
    ShareOut,
    items_base,
)
from stationthis.platforms.web.api.datasets import DatasetOut, dataset_out
from stationthis.platforms.web.api.media import read_upload
from stationthis.platforms.web.api.views import Done
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented

router = APIRouter(prefix="/api/v1", tags=["collections"])


class NewDataset(BaseModel):  # here: its schema's name stays "…api__collections__NewDataset"
    name: str = Field(max_length=100)
    trigger: str | None = Field(None, max_length=100, description="default: the name")


# ----- collections ----------------------------------------------------------------------------

@router.get("/collections", response_model=CollectionsOut, responses=documented(*AUTH))
async def list_collections(request: Request,
                           user: Account = Depends(current_account)) -> CollectionsOut:
    """Your collections, and those shared with you (with what you may do)."""
    c = station(request).collections
    return CollectionsOut(mine=[CollectionOut.of(x) for x in await c.mine(user)],
                          shared_with_me=[CollectionOut.of(x)
                                          for x in await c.shared_with_me(user)])


@router.post("/collections", status_code=201, response_model=CollectionOut,
             responses=documented(*AUTH, 400, 409, 422))
async def create_collection(body: NewCollection, request: Request,
                            user: Account = Depends(current_account)) -> CollectionOut:
    made = await station(request).collections.create(user, body.name, body.description)
    return CollectionOut.of(made)


@router.get("/collections/{collection_id}", response_model=CollectionOut,
            responses=documented(*AUTH, 404))
async def get_collection(collection_id: str, request: Request,
                         user: Account = Depends(current_account)) -> CollectionOut:
    return CollectionOut.of(await station(request).collections.view(user, collection_id))


@router.patch("/collections/{collection_id}", response_model=CollectionOut,
              responses=documented(*AUTH, 400, 404, 409, 422))
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
              responses=documented(*AUTH, 400, 404, 422))
async def change_metadata(collection_id: str, body: Metadata, request: Request,
                          user: Account = Depends(current_account)) -> CollectionOut:
    """Export metadata (owner only); a field sent as null is removed."""
    values = {k: getattr(body, k) for k in body.model_fields_set}
    return CollectionOut.of(await station(request).collections.set_metadata(
        user, collection_id, **values))


@router.delete("/collections/{collection_id}", response_model=Done,
               responses=documented(*AUTH, 404))
async def delete_collection(collection_id: str, request: Request,
                            user: Account = Depends(current_account)) -> Done:
    """Owner only. Its images stay in your gallery; a cook run in progress stops."""
    await station(request).collections.delete(user, collection_id)
    return Done()


# ----- items ----------------------------------------------------------------------------------

@router.get("/collections/{collection_id}/items", response_model=ItemPageOut,
            responses=documented(*AUTH, 400, 404))
async def list_items(collection_id: str, request: Request, page: int = Page,
                     per_page: int = PerPage,
                     user: Account = Depends(current_account)) -> ItemPageOut:
    view = await station(request).collections.items(user, collection_id, page, per_page)
    return ItemPageOut.of(view, items_base(collection_id))


@router.post("/collections/{collection_id}/items", status_code=201, response_model=ItemOut,
             responses=documented(*AUTH, 400, 404, 422))
async def add_item(collection_id: str, body: NewItem, request: Request,
                   user: Account = Depends(current_account)) -> ItemOut:
    """Add one of your images (a job's output or an upload) by its media id."""
    item = await station(request).collections.add_output(user, collection_id, body.media_id,
                                                         body.description)
    return ItemOut.of(item, items_base(collection_id))


@router.post("/collections/{collection_id}/uploads", status_code=201, response_model=ItemOut,
             responses=documented(*AUTH, 400, 404, 413, 422))
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
              responses=documented(*AUTH, 400, 404, 422))
async def edit_item(collection_id: str, item_id: str, body: ItemChange, request: Request,
                    user: Account = Depends(current_account)) -> ItemOut:
    item = await station(request).collections.edit_item(user, collection_id, item_id,
                                                        body.description)
    return ItemOut.of(item, items_base(collection_id))


@router.delete("/collections/{collection_id}/items/{item_id}", response_model=Done,
               responses=documented(*AUTH, 404))
async def remove_item(collection_id: str, item_id: str, request: Request,
                      user: Account = Depends(current_account)) -> Done:
    """Take the image out of the collection (it stays in your gallery)."""
    await station(request).collections.remove_item(user, collection_id, item_id)
    return Done()


@router.post("/collections/{collection_id}/items/{item_id}/move", response_model=ItemPageOut,
             responses=documented(*AUTH, 400, 404, 422))
async def move_item(collection_id: str, item_id: str, body: Move, request: Request,
                    user: Account = Depends(current_account)) -> ItemPageOut:
    """Move an item to a position (1 = first); answers the first 100 items in order."""
    view = await station(request).collections.move_item(user, collection_id, item_id,
                                                        body.position)
    return ItemPageOut.of(view, items_base(collection_id))


@router.get("/collections/{collection_id}/items/{item_id}/thumbnail", response_class=Response,
            responses={**JPEG, **documented(*AUTH, 404)})
async def item_thumbnail(collection_id: str, item_id: str, request: Request,
                         user: Account = Depends(current_account)) -> Response:
    data = await station(request).collections.thumbnail(user, collection_id, item_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})


@router.get("/collections/{collection_id}/items/{item_id}/image", response_class=Response,
            responses={**PNG, **documented(*AUTH, 404)})
async def item_image(collection_id: str, item_id: str, request: Request,
                     user: Account = Depends(current_account)) -> Response:
    data = await station(request).collections.image(user, collection_id, item_id)
    return Response(data, media_type="image/png", headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


# ----- sharing with users -----------------------------------------------------------------

@router.get("/collections/{collection_id}/shares", response_model=list[ShareOut],
            responses=documented(*AUTH, 404))
async def list_shares(collection_id: str, request: Request,
                      user: Account = Depends(current_account)) -> list[ShareOut]:
    views = await station(request).collections.shares(user, collection_id)
    return [ShareOut.of(v) for v in views]


@router.put("/collections/{collection_id}/shares", response_model=ShareOut,
            responses=documented(*AUTH, 400, 404, 422))
async def share(collection_id: str, body: ShareIn, request: Request,
                user: Account = Depends(current_account)) -> ShareOut:
    """Share with an existing user, or change their permission (owner only)."""
    view = await station(request).collections.share(user, collection_id, body.user,
                                                    body.permission)
    return ShareOut.of(view)


@router.delete("/collections/{collection_id}/shares/{other}", response_model=Done,
               responses=documented(*AUTH, 400, 404))
async def unshare(collection_id: str, other: str, request: Request,
                  user: Account = Depends(current_account)) -> Done:
    """Stop sharing with that user (a username or PLATFORM:ID)."""
    await station(request).collections.unshare(user, collection_id, other)
    return Done()


# ----- a dataset from the collection -------------------------------------------------------

@router.post("/collections/{collection_id}/dataset", status_code=201, response_model=DatasetOut,
             responses=documented(*AUTH, 400, 404, 409, 422))
async def to_dataset(collection_id: str, body: NewDataset, request: Request,
                     user: Account = Depends(current_account)) -> DatasetOut:
    """A new training dataset from the collection's images, captioned by their
    descriptions (else their prompts)."""
    app = station(request)
    made = await app.training.dataset_from_collection(user, app.collections, collection_id,
                                                      body.name, body.trigger)
    return dataset_out(await app.training.view(user, made.id))

"""Collections, continued: share links (read without signing in at ``/api/v1/links/…``;
expired or revoked is 410 ``link_gone``, unknown 404) and export as a zip. See
``collections.py``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from stationthis.core.errors import Forbidden
from stationthis.core.users import Account
from stationthis.platforms.web.api.collections_schemas import (
    AUTH,
    GONE,
    JPEG,
    PNG,
    ZIP,
    ItemOut,
    LinkOut,
    NewLink,
    Page,
    PerPage,
    SharedOut,
)
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented, error_response

router = APIRouter(prefix="/api/v1", tags=["collections"])


# ----- share links -------------------------------------------------------------------------

@router.get("/collections/{collection_id}/links", response_model=list[LinkOut],
            responses=documented(*AUTH, 404))
async def list_links(collection_id: str, request: Request,
                     user: Account = Depends(current_account)) -> list[LinkOut]:
    return [LinkOut.of(x) for x in await station(request).collections.links(user,
                                                                            collection_id)]


@router.post("/collections/{collection_id}/links", status_code=201, response_model=LinkOut,
             responses=documented(*AUTH, 400, 404, 422))
async def create_link(collection_id: str, body: NewLink, request: Request,
                      user: Account = Depends(current_account)) -> LinkOut:
    """A read-only link anyone can open without signing in, until it expires."""
    made = await station(request).collections.create_link(user, collection_id, body.expires)
    return LinkOut.of(made)


@router.delete("/collections/{collection_id}/links/{token}", response_model=LinkOut,
               responses=documented(*AUTH, 404, 409))
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
            responses={**documented(400, 404), **GONE})
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
            responses={**JPEG, **documented(404), **GONE})
async def link_thumbnail(token: str, item_id: str, request: Request) -> Response:
    return await _link_image(request, token, item_id, True)


@router.get("/links/{token}/items/{item_id}/image", response_class=Response,
            responses={**PNG, **documented(404), **GONE})
async def link_image(token: str, item_id: str, request: Request) -> Response:
    return await _link_image(request, token, item_id, False)


# ----- export ----------------------------------------------------------------

@router.get("/collections/{collection_id}/export", response_class=Response,
            responses={**ZIP, **documented(*AUTH, 400, 404)})
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

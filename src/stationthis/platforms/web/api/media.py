"""Media: upload an image (through the hardened loader), read its details, download it, its
thumbnail; and what can be done with one: variations, upscale, background removal, zoom out
and pan."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.web.api.views import WEB_REPLY, JobOut, MediaOut, QuoteOut
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows.make_image import Quote

router = APIRouter(prefix="/api/v1/media", tags=["media"])
_AUTH = (401, 403)
_BINARY = {"description": "the file", "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


async def read_upload(request: Request, upload: UploadFile) -> bytes:
    """An uploaded file's bytes; 413 over ``STATIONTHIS_MAX_UPLOAD_BYTES``."""
    limit = station(request).settings.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{upload.filename or 'the file'} is larger than {limit} bytes")
    return data


@router.post("", status_code=201, response_model=MediaOut,
             responses=documented(*_AUTH, 400, 413, 422))
async def upload(
    request: Request, file: UploadFile = File(description="a PNG, JPEG or WEBP image"),
    user: Account = Depends(current_account),
) -> MediaOut:
    """Upload an image. It is checked (format, bytes, pixels, decompression bombs), turned
    upright and re-encoded as PNG without metadata."""
    data = await read_upload(request, file)
    return MediaOut.of(await station(request).media.ingest(user.id, data))


@router.get("/{media_id}", response_model=MediaOut, responses=documented(*_AUTH, 404))
async def get_media(
    media_id: str, request: Request, user: Account = Depends(current_account)
) -> MediaOut:
    return MediaOut.of(await station(request).media.get(media_id, owner_id=user.id))


@router.get("/{media_id}/file", response_class=Response,
            responses={200: _BINARY, **documented(*_AUTH, 404)})
async def download(
    media_id: str, request: Request, user: Account = Depends(current_account)
) -> Response:
    app = station(request)
    item = await app.media.get(media_id, owner_id=user.id)
    ext = item.key.rsplit(".", 1)[-1]
    return Response(await app.media.read(item), media_type=item.media_type, headers={
        "Content-Disposition": f'attachment; filename="{item.id}.{ext}"',
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


@router.get("/{media_id}/thumbnail", response_class=Response,
            responses={200: {"description": "a small JPEG", "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
                **documented(*_AUTH, 400, 404)})
async def thumbnail(
    media_id: str, request: Request, user: Account = Depends(current_account)
) -> Response:
    app = station(request)
    item = await app.media.get(media_id, owner_id=user.id)
    if not item.is_image:
        raise InvalidInput("only images have thumbnails")
    return Response(await app.media.thumbnail(item), media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})


# ----- actions on an image ------------------------------------------------------------------

class Variation(BaseModel):
    strength: float = Field(0.5, ge=0, le=1, description="how far from the image (0–1)")
    prompt: str | None = Field(None, max_length=2000,
                               description="default: the prompt the image was made with")


class Upscale(BaseModel):
    scale: int = Field(2, description="2 or 4")


class ZoomOut(BaseModel):
    factor: float = Field(1.5, gt=1, le=4,
                          description="the result's size as a multiple of the image's (1.5, 2…)")


class Pan(BaseModel):
    direction: Literal["left", "up", "right", "down"] = Field(
        description="the side the image is extended on")
    share: float = Field(0.5, gt=0, le=2,
                         description="how much is added, as a share of the image's size")


_ACTION = documented(*_AUTH, 400, 402, 404, 422, 429)
_QUOTE = documented(*_AUTH, 400, 404, 422)


@router.post("/{media_id}/variations", status_code=202, response_model=JobOut,
             responses=_ACTION)
async def vary(media_id: str, body: Variation, request: Request,
               user: Account = Depends(current_account)) -> JobOut:
    """An image-to-image variation of this image with a new seed."""
    job = await station(request).again.vary(user, media_id, body.strength, prompt=body.prompt,
                                            reply=WEB_REPLY)
    return JobOut.of(job)


@router.post("/{media_id}/variations/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_vary(media_id: str, body: Variation, request: Request,
                     user: Account = Depends(current_account)) -> QuoteOut:
    quote: Quote = await station(request).again.quote_vary(user, media_id, body.strength,
                                                           prompt=body.prompt)
    return QuoteOut.of(quote)


@router.post("/{media_id}/upscale", status_code=202, response_model=JobOut, responses=_ACTION)
async def upscale(media_id: str, body: Upscale, request: Request,
                  user: Account = Depends(current_account)) -> JobOut:
    """×2 or ×4 of this image."""
    job = await station(request).again.upscale(user, media_id, body.scale, reply=WEB_REPLY)
    return JobOut.of(job)


@router.post("/{media_id}/upscale/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_upscale(media_id: str, body: Upscale, request: Request,
                        user: Account = Depends(current_account)) -> QuoteOut:
    return QuoteOut.of(await station(request).again.quote_upscale(user, media_id, body.scale))


@router.post("/{media_id}/rmbg", status_code=202, response_model=JobOut, responses=_ACTION)
async def remove_background(media_id: str, request: Request,
                            user: Account = Depends(current_account)) -> JobOut:
    """This image with its background removed (transparent)."""
    job = await station(request).again.remove_background(user, media_id, reply=WEB_REPLY)
    return JobOut.of(job)


@router.post("/{media_id}/rmbg/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_remove_background(media_id: str, request: Request,
                                  user: Account = Depends(current_account)) -> QuoteOut:
    return QuoteOut.of(await station(request).again.quote_remove_background(user, media_id))


@router.post("/{media_id}/zoom-out", status_code=202, response_model=JobOut,
             responses=_ACTION)
async def zoom_out(media_id: str, body: ZoomOut, request: Request,
                   user: Account = Depends(current_account)) -> JobOut:
    """This image centred on a larger canvas (outpaint), the border filled from its prompt."""
    job = await station(request).again.zoom_out(user, media_id, body.factor, reply=WEB_REPLY)
    return JobOut.of(job)


@router.post("/{media_id}/zoom-out/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_zoom_out(media_id: str, body: ZoomOut, request: Request,
                         user: Account = Depends(current_account)) -> QuoteOut:
    return QuoteOut.of(await station(request).again.quote_zoom_out(user, media_id, body.factor))


@router.post("/{media_id}/pan", status_code=202, response_model=JobOut, responses=_ACTION)
async def pan(media_id: str, body: Pan, request: Request,
              user: Account = Depends(current_account)) -> JobOut:
    """This image extended on one side (outpaint), the new part filled from its prompt."""
    job = await station(request).again.pan(user, media_id, body.direction, body.share,
                                           reply=WEB_REPLY)
    return JobOut.of(job)


@router.post("/{media_id}/pan/quote", response_model=QuoteOut, responses=_QUOTE)
async def quote_pan(media_id: str, body: Pan, request: Request,
                    user: Account = Depends(current_account)) -> QuoteOut:
    return QuoteOut.of(await station(request).again.quote_pan(user, media_id, body.direction,
                                                              body.share))

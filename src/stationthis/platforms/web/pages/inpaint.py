"""The mask painter ("vary region"): an image with a canvas over it, where a brush marks the
region to repaint (eraser, brush size, undo, clear). The page's JS (``static/inpaint.js``)
uploads the mask (``POST /api/v1/media``), shows the price first (``POST /api/v1/quotes``)
and starts the job through the jobs API (``POST /api/v1/jobs``, tool ``inpaint``, the image
and the mask as its image inputs); the chats' 🖌 Vary region button links here."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from stationthis.core.errors import NotFound
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.pages.common import PageRoute, SignedIn, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/media/{media_id}/inpaint")
async def painter(media_id: str, request: Request, account: SignedIn) -> Response:
    app = station(request)
    item = await app.media.get(media_id, owner_id=account.id)
    if not item.is_image:
        raise NotFound("that is not an image")
    tools = app.tools.by_category("inpaint")
    if not tools:
        raise NotFound("this instance has no inpaint tool")
    prompt = ""
    if item.job_id is not None:
        try:
            job = await app.jobs.get_owned(item.job_id, account.id)
            prompt = str(job.params.get("prompt") or "")
        except NotFound:
            pass
    return page(request, "inpaint.html", item=item, tool=tools[0].name, prompt=prompt,
                max_length=tools[0].inputs["prompt"].max_length if "prompt" in tools[0].inputs
                else 2000)

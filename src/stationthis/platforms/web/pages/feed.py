"""The studio's feed: the user's jobs as tiles, newest first — live progress and preview while a
job runs (the page's JS follows ``/api/v1/jobs/{id}/events``), its images with their actions
once it is done. Older tiles come in pages as the user scrolls (``/studio/feed?before=<id>``);
one tile is ``/studio/tiles/{id}`` (fetched when a job ends, or after an action starts one).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from stationthis.core.errors import NotFound
from stationthis.core.jobs import Job
from stationthis.core.media import MediaItem
from stationthis.core.users import Account
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.pages.common import PageRoute, SignedIn, page
from stationthis.workflows import describe as describing

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FEED_PAGE = 8  # tiles per page of the feed


@router.get("/studio/feed")
async def feed_page(request: Request, account: SignedIn, before: str | None = None) -> Response:
    """The next page of tiles after the job ``before`` (the first page without it)."""
    return page(request, "_feed.html", **await feed(request, account, before))


@router.get("/studio/tiles/{job_id}")
async def tile(job_id: str, request: Request, account: SignedIn) -> Response:
    job = await station(request).jobs.get_owned(job_id, account.id)
    return page(request, "_tile.html", t=await tile_of(request, account, job),
                ui_tools=ui_tools(request))


async def feed(request: Request, account: Account, before: str | None) -> dict[str, Any]:
    """Tiles for one page of the feed, and the id to ask for the next page with (None at the
    end)."""
    jobs = station(request).jobs
    last = await jobs.get_owned(before, account.id) if before else None
    found = await jobs.list_for(account.id, limit=FEED_PAGE + 1, before=last)
    more = len(found) > FEED_PAGE
    found = found[:FEED_PAGE]
    tiles = [await tile_of(request, account, job) for job in found]
    return {"tiles": tiles, "next": found[-1].id if more and found else None,
            "ui_tools": ui_tools(request)}


def ui_tools(request: Request) -> dict[str, str]:
    """Category → the first tool of it: which actions a result offers, and the tool that
    "use as input" opens."""
    found: dict[str, str] = {}
    for t in station(request).tools.all():
        found.setdefault(t.category, t.name)
    return found


async def tile_of(request: Request, account: Account, job: Job) -> dict[str, Any]:
    """What a tile shows of a job: the job, its images (or texts) once done, its model."""
    app = station(request)
    outputs: list[MediaItem] = []
    texts: dict[str, str] = {}
    if job.state == "succeeded":
        for media_id in job.outputs:
            try:
                outputs.append(await app.media.get(media_id, owner_id=account.id))
            except NotFound:
                continue  # deleted since
        for item in outputs:
            if item.media_type.startswith("text/"):
                texts[item.id] = (await app.media.read(item)).decode("utf-8", "replace")
    percent = 100 if job.state == "succeeded" else int(job.progress.get("percent") or 0)
    return {"job": job, "outputs": outputs, "texts": texts, "percent": percent,
            "prompt": str(job.params.get("prompt") or ""),
            "prompts": await describing.prompts(app.media, job)}  # a describe's, to use

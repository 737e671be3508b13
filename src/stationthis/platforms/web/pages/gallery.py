"""The gallery: every output with its thumbnail, filtered by tool and date; one image with its
reproducibility card, download and the same actions as in the studio."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Request, Response

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.pages.common import PageRoute, SignedIn, form_of, page, redirect
from stationthis.platforms.web.pages.feed import ui_tools
from stationthis.platforms.web.pages.studio import reply_to
from stationthis.workflows.history import MAX_RECENT

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-01-31") from None


@router.get("/gallery")
async def gallery(
    request: Request, account: SignedIn, tool: str = "", since: str = "", until: str = "",
) -> Response:
    app = station(request)
    first, last = _day(since, "since"), _day(until, "until")
    entries = await app.history.recent(account, MAX_RECENT, tool or None)
    start = datetime.combine(first, time.min, UTC) if first else None
    end = datetime.combine(last, time.min, UTC) + timedelta(days=1) if last else None
    shown = [
        e for e in entries
        if e.state == "succeeded" and e.outputs and e.category not in ("train", "caption")
        and (start is None or e.created_at >= start) and (end is None or e.created_at < end)
    ]
    tools = sorted({t.name for t in app.tools.all() if t.category not in ("train", "caption")})
    return page(request, "gallery.html", entries=shown, tools=tools, tool=tool, since=since,
                until=until, limit=MAX_RECENT)


@router.get("/gallery/{media_id}")
async def image(media_id: str, request: Request, account: SignedIn) -> Response:
    app = station(request)
    item = await app.media.get(media_id, owner_id=account.id)
    if not item.is_image:
        raise NotFound("no such image")
    try:
        card = await app.history.card(account, media_id)
    except InvalidInput:
        card = None  # an upload: it was not made here
    return page(request, "image.html", item=item, card=card, ui_tools=ui_tools(request))


@router.post("/gallery/{media_id}/rerun")
async def rerun(media_id: str, request: Request, account: SignedIn) -> Response:
    await form_of(request)
    app = station(request)
    card = await app.history.card(account, media_id)
    job = await app.history.rerun(account, card, reply=reply_to(account))
    return redirect(f"/jobs/{job.id}")

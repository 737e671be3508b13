"""/styles: the user's saved styles and wildcard lists — save one (a form that replaces the
one of that name), remove one. The studio's prompt bar picks a style; a prompt uses one with
``--style NAME`` and a list with ``__NAME__`` (workflows/styles.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from stationthis.core.errors import StationError
from stationthis.core.users import Account
from stationthis.platforms.web.auth import station
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import (
    PageRoute,
    SignedIn,
    form_of,
    page,
    redirect,
    text,
)
from stationthis.workflows.styles import Styles

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _flow(request: Request) -> Styles:
    styles = station(request).styles
    assert styles is not None
    return styles


@router.get("/styles")
async def styles_page(request: Request, account: SignedIn) -> Response:
    return await _render(request, account)


@router.post("/styles")
async def save_style(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    defaults: dict[str, Any] = {}
    for key in ("steps", "cfg", "ar"):
        value = text(form, key).strip()
        if value:
            defaults[key] = value
    try:
        await _flow(request).save_style(account, text(form, "name"), text(form, "template"),
                                        text(form, "negative"), defaults, by=account)
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    return redirect("/styles#styles")


@router.post("/styles/{name}/remove")
async def remove_style(name: str, request: Request, account: SignedIn) -> Response:
    await form_of(request)
    await _flow(request).delete_style(account, name, by=account)
    return redirect("/styles#styles")


@router.post("/styles/wildcards")
async def save_list(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    try:
        await _flow(request).save_list(account, text(form, "name"), text(form, "items"),
                                       by=account)
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    return redirect("/styles#wildcards")


@router.post("/styles/wildcards/{name}/remove")
async def remove_list(name: str, request: Request, account: SignedIn) -> Response:
    await form_of(request)
    await _flow(request).delete_list(account, name, by=account)
    return redirect("/styles#wildcards")


async def _render(request: Request, account: Account, status_code: int = 200,
                  error: str | None = None) -> Response:
    flow = _flow(request)
    return page(request, "styles.html", status_code, error=error,
                styles=await flow.book.styles(account.id),
                lists=await flow.book.lists(account.id))

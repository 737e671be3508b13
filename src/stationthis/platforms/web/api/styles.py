"""A user's saved styles (``--style NAME`` in a prompt, or ``style`` in a request's options)
and wildcard lists (``__NAME__`` in a prompt). Each user sees and changes only their own: a
name another user has is simply not there (404)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from stationthis.core.styles import Style, WildcardList
from stationthis.core.users import Account
from stationthis.platforms.web.api.views import Done
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows.styles import Styles

router = APIRouter(prefix="/api/v1", tags=["styles"])
_AUTH = (401, 403)


class StyleIn(BaseModel):
    template: str = Field(description="the prompt with {prompt} where yours goes, e.g. "
                          "\"film noir photo of {prompt}, grainy\"; without {prompt}, a prefix")
    negative: str | None = Field(None, description="added to the negative prompt")
    defaults: dict[str, Any] = Field(default_factory=dict, description=(
        "inputs the style sets, e.g. {\"steps\": 30, \"cfg\": 6, \"ar\": \"16:9\"}; each is "
        "checked against the tool when the style is used, and skipped for a tool without it"))


class StyleOut(StyleIn):
    name: str


class WildcardsIn(BaseModel):
    items: list[str | dict[str, Any]] = Field(description=(
        "the items: text, optionally weighted (\"teal:3\"), or {\"value\", \"weight\"}"))


class ItemOut(BaseModel):
    value: str
    weight: float


class WildcardsOut(BaseModel):
    name: str
    items: list[ItemOut]


def _flow(request: Request) -> Styles:
    styles = station(request).styles
    assert styles is not None
    return styles


def _style(style: Style) -> StyleOut:
    return StyleOut(name=style.name, template=style.template, negative=style.negative,
                    defaults=dict(style.defaults))


def _list(found: WildcardList) -> WildcardsOut:
    return WildcardsOut(name=found.name, items=[ItemOut(value=i.value, weight=i.weight)
                                                for i in found.items])


@router.get("/styles", response_model=list[StyleOut], responses=documented(*_AUTH))
async def styles(request: Request, user: Account = Depends(current_account)) -> list[StyleOut]:
    """Your saved styles, by name."""
    return [_style(s) for s in await _flow(request).book.styles(user.id)]


@router.get("/styles/{name}", response_model=StyleOut, responses=documented(*_AUTH, 400, 404))
async def style(name: str, request: Request,
                user: Account = Depends(current_account)) -> StyleOut:
    return _style(await _flow(request).own_style(user, name))


@router.put("/styles/{name}", response_model=StyleOut, responses=documented(*_AUTH, 400))
async def save_style(name: str, body: StyleIn, request: Request,
                     user: Account = Depends(current_account)) -> StyleOut:
    """Save a style (replacing yours of that name)."""
    return _style(await _flow(request).save_style(user, name, body.template, body.negative,
                                                  body.defaults, by=user))


@router.delete("/styles/{name}", response_model=Done,
               responses=documented(*_AUTH, 400, 404))
async def delete_style(name: str, request: Request,
                       user: Account = Depends(current_account)) -> Done:
    await _flow(request).delete_style(user, name, by=user)
    return Done()


@router.get("/wildcards", response_model=list[WildcardsOut], responses=documented(*_AUTH))
async def wildcards(request: Request,
                    user: Account = Depends(current_account)) -> list[WildcardsOut]:
    """Your wildcard lists, by name (``__name__`` in a prompt draws one item)."""
    return [_list(w) for w in await _flow(request).book.lists(user.id)]


@router.get("/wildcards/{name}", response_model=WildcardsOut,
            responses=documented(*_AUTH, 400, 404))
async def wildcard_list(name: str, request: Request,
                        user: Account = Depends(current_account)) -> WildcardsOut:
    return _list(await _flow(request).own_list(user, name))


@router.put("/wildcards/{name}", response_model=WildcardsOut, responses=documented(*_AUTH, 400))
async def save_list(name: str, body: WildcardsIn, request: Request,
                    user: Account = Depends(current_account)) -> WildcardsOut:
    """Save a wildcard list (replacing yours of that name)."""
    return _list(await _flow(request).save_list(user, name, list(body.items), by=user))


@router.delete("/wildcards/{name}", response_model=Done,
               responses=documented(*_AUTH, 400, 404))
async def delete_list(name: str, request: Request,
                      user: Account = Depends(current_account)) -> Done:
    await _flow(request).delete_list(user, name, by=user)
    return Done()

"""Cook mode in the browser: the configuration (master prompt, trait types with weighted
traits written one type per line, exclusions, supply), the first pieces as they will be, the
quote, start / pause / resume / cancel with live "done/total" progress (the page's JS polls
``GET /api/v1/collections/{id}/cook/status``), and the review of made pieces (keep, reject,
regenerate).

Traits, one trait type per line (``JSON`` also accepted: a list of trait types)::

    animal: fox = red fox * 3, owl, cat
    place: forest, city * 0.5

``name = prompt * weight``: the prompt (default: the name) replaces ``[animal]`` in the master
prompt; the weight (default 1) is how often it is chosen. Exclusions, one pair per line:
``animal:fox + place:ocean`` (never together)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from stationthis.core.errors import InvalidInput, StationError
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
from stationthis.platforms.web.pages.studio import reply_to
from stationthis.workflows.cook_text import parse_traits

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PIECES_PER_PAGE = 24
ACTIONS = ("start", "pause", "resume", "cancel")
REVIEW = ("keep", "reject", "regenerate")


def traits_text(config: dict[str, Any]) -> str:
    lines = []
    for kind in config.get("trait_types", []):
        parts = []
        for t in kind["traits"]:
            part = t["name"]
            if t.get("prompt") and t["prompt"] != t["name"]:
                part += f" = {t['prompt']}"
            if t.get("weight", 1) != 1:
                part += f" * {t['weight']:g}"
            parts.append(part)
        lines.append(f"{kind['name']}: {', '.join(parts)}")
    return "\n".join(lines)


def parse_exclusions(raw: str) -> list[list[str]]:
    pairs = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        left, plus, right = line.partition("+")
        if not plus:
            raise InvalidInput(f"exclusions line {number}: write 'type:trait + type:trait'")
        pairs.append([left.strip(), right.strip()])
    return pairs


def config_of(form: Any) -> dict[str, Any]:
    supply = text(form, "supply").strip()
    seed = text(form, "seed").strip()
    try:
        config: dict[str, Any] = {
            "master_prompt": text(form, "master_prompt"),
            "trait_types": parse_traits(text(form, "traits")),
            "exclusions": parse_exclusions(text(form, "exclusions")),
            "supply": int(supply) if supply else 0,
            "seed": int(seed) if seed else None,
        }
    except ValueError:
        raise InvalidInput("the supply and the seed are whole numbers") from None
    return config


@router.get("/collections/{collection_id}/cook")
async def cook(collection_id: str, request: Request, account: SignedIn,
               number: int = Query(1, alias="page")) -> Response:
    return await _cook(request, account, collection_id, max(number, 1))


@router.post("/collections/{collection_id}/cook/config")
async def configure(collection_id: str, request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    values = {k: text(form, k) for k in ("master_prompt", "traits", "exclusions", "supply",
                                         "seed")}
    try:
        await station(request).cook.configure(account, collection_id, config_of(form))
    except StationError as exc:
        if status_of(exc) == 404:
            raise
        return await _cook(request, account, collection_id, 1, exc.message, status_of(exc),
                           values)
    return redirect(f"/collections/{collection_id}/cook")


@router.post("/collections/{collection_id}/cook/{action}")
async def act(collection_id: str, action: str, request: Request, account: SignedIn
              ) -> Response:
    form = await form_of(request)
    if action not in ACTIONS:
        raise InvalidInput(f"no such cook action {action!r}")
    app = station(request)
    try:
        if action == "start":
            await app.cook.start(account, collection_id, reply=reply_to(account),
                                 again=text(form, "again") == "1")
        else:
            await getattr(app.cook, action)(account, collection_id)
    except StationError as exc:
        if status_of(exc) == 404:
            raise
        return await _cook(request, account, collection_id, 1, exc.message, status_of(exc))
    return redirect(f"/collections/{collection_id}/cook")


@router.post("/collections/{collection_id}/cook/pieces/{number}/{action}")
async def review(collection_id: str, number: int, action: str, request: Request,
                 account: SignedIn) -> Response:
    form = await form_of(request)
    if action not in REVIEW:
        raise InvalidInput(f"no such review action {action!r}")
    page_number = max(1, int(text(form, "page") or 1)) if text(form, "page").isdigit() else 1
    try:
        await getattr(station(request).cook, action)(account, collection_id, number)
    except StationError as exc:
        if status_of(exc) == 404:
            raise
        return await _cook(request, account, collection_id, page_number, exc.message,
                           status_of(exc))
    return redirect(f"/collections/{collection_id}/cook?page={page_number}#piece-{number}")


async def _cook(request: Request, account: Account, cid: str, number: int,
                error: str | None = None, status_code: int = 200,
                values: dict[str, str] | None = None) -> Response:
    app = station(request)
    c = await app.collections.view(account, cid)
    owner = c.access == "owner"
    config = c.cook or {}
    form = values or {
        "master_prompt": config.get("master_prompt", ""),
        "traits": traits_text(config) if config else "",
        "exclusions": "\n".join(" + ".join(p) for p in config.get("exclusions", [])),
        "supply": str(config.get("supply", 10)), "seed": str(config.get("seed", "")),
    }
    preview, quote, status, pieces, problem = [], None, None, [], None
    if c.cook:
        try:
            preview = await app.cook.preview(account, cid, 5)
            if owner:
                quote = await app.cook.quote(account, cid)
        except StationError as exc:
            problem = exc.message
        try:
            status = await app.cook.status(account, cid)
            pieces = await app.cook.pieces(account, cid, page=number,
                                           per_page=PIECES_PER_PAGE)
        except StationError:
            status = None
    pages = max(1, -(-status.total // PIECES_PER_PAGE)) if status else 1
    same = bool(status and quote and status.config_hash == quote.config_hash)
    return page(request, "collection_cook.html", status_code, c=c, owner=owner, form=form,
                preview=preview, quote=quote, status=status, pieces=pieces, error=error,
                problem=problem, number=number, pages=pages, same=same)

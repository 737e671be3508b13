"""Cook mode over the REST API: configure (master prompt, weighted traits, exclusions,
supply), preview the first pieces, quote, start / status / pause / resume / cancel, and
review the pieces (keep, reject, regenerate). See docs/decisions/0014 and 0017."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from stationthis.core.collections_runs import Piece
from stationthis.core.collections_traits import CookConfig, PiecePlan
from stationthis.core.users import Account
from stationthis.platforms.web.api.collections_schemas import (
    AttributeOut,
    ItemOut,
    Page,
    PerPage,
    items_base,
)
from stationthis.platforms.web.api.views import WEB_REPLY
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented
from stationthis.workflows.cook import CookQuote, CookStatus

router = APIRouter(prefix="/api/v1", tags=["collections"])
_AUTH = (401, 403)


class TraitIn(BaseModel):
    name: str = Field(max_length=50)
    prompt: str | None = Field(None, max_length=2000, description="default: the name")
    weight: float = Field(1, gt=0, le=1_000_000)


class TraitTypeIn(BaseModel):
    name: str = Field(max_length=50)
    traits: list[TraitIn] = Field(max_length=500)


class CookConfigIn(BaseModel):
    master_prompt: str = Field(max_length=2000,
                               description="with [trait type] placeholders")
    trait_types: list[TraitTypeIn] = Field(default_factory=list, max_length=50)
    exclusions: list[list[str]] = Field(
        default_factory=list, max_length=500,
        description='pairs never together: [["animal:fox", "place:ocean"]]')
    supply: int = Field(ge=1, le=100_000, description="how many pieces")
    seed: int | None = Field(None, ge=0, le=2**62, description="default: chosen once")
    tool: str = Field("make", max_length=100)
    options: dict[str, Any] = Field(default_factory=dict, description="tool inputs: width…")


class TraitOut(BaseModel):
    name: str
    prompt: str
    weight: float


class TraitTypeOut(BaseModel):
    name: str
    traits: list[TraitOut]


class CookConfigOut(BaseModel):
    master_prompt: str
    trait_types: list[TraitTypeOut]
    exclusions: list[list[str]]
    supply: int
    seed: int
    tool: str
    options: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, c: CookConfig) -> CookConfigOut:
        data = c.to_dict()
        return cls(**data, hash=c.hash)


class PlanOut(BaseModel):
    number: int
    attributes: list[AttributeOut]
    prompt: str

    @classmethod
    def of(cls, p: PiecePlan) -> PlanOut:
        return cls(number=p.number, prompt=p.prompt,
                   attributes=[AttributeOut(**a) for a in p.attributes])


class CookQuoteOut(BaseModel):
    pieces: int = Field(description="pieces still to make")
    per_piece: int
    points: int
    available: int
    fits: int = Field(description="how many pieces the balance covers now")
    enough: bool
    config_hash: str

    @classmethod
    def of(cls, q: CookQuote) -> CookQuoteOut:
        return cls(pieces=q.pieces, per_piece=q.per_piece, points=q.points,
                   available=q.available, fits=q.fits, enough=q.enough,
                   config_hash=q.config_hash)


class CookStatusOut(BaseModel):
    run_id: str
    state: str = Field(description="running | paused | finished | cancelled")
    reason: str | None = Field(description="why it paused by itself")
    progress: str = Field(description='"done/total", e.g. "37/100"')
    total: int
    done: int
    failed: int
    in_flight: int
    pending: int
    kept: int
    rejected: int
    config_hash: str
    recognised: bool = Field(description="start found a run of this same configuration")

    @classmethod
    def of(cls, s: CookStatus) -> CookStatusOut:
        return cls(run_id=s.run_id, state=s.state, reason=s.reason, progress=s.progress,
                   total=s.total, done=s.done, failed=s.failed, in_flight=s.in_flight,
                   pending=s.pending, kept=s.kept, rejected=s.rejected,
                   config_hash=s.config_hash, recognised=s.recognised)


class Start(BaseModel):
    again: bool = Field(False, description="start a fresh run after a finished one")


class PieceOut(BaseModel):
    number: int
    state: str = Field(description="pending | claimed | running | done | failed | cancelled")
    review: str | None = Field(description="kept | rejected | null")
    attributes: list[AttributeOut]
    prompt: str
    attempt: int
    job_id: str | None
    media_id: str | None
    thumbnail_url: str | None
    error: str | None

    @classmethod
    def of(cls, p: Piece) -> PieceOut:
        return cls(number=p.number, state=p.state, review=p.review, prompt=p.prompt,
                   attributes=[AttributeOut(**a) for a in p.attributes], attempt=p.attempt,
                   job_id=p.job_id, media_id=p.media_id, error=p.error,
                   thumbnail_url=f"/api/v1/media/{p.media_id}/thumbnail" if p.media_id
                   else None)


# ----- cook ---------------------------------------------------------------------------------

_COOK = "/collections/{collection_id}/cook"


@router.put(_COOK, response_model=CookConfigOut,
            responses=documented(*_AUTH, 400, 404, 422))
async def configure_cook(collection_id: str, body: CookConfigIn, request: Request,
                         user: Account = Depends(current_account)) -> CookConfigOut:
    """Save the cook configuration (owner only): the master prompt with ``[trait type]``
    placeholders, trait types with weighted traits, exclusions and the supply."""
    data = body.model_dump()
    data["trait_types"] = [
        {"name": t["name"], "traits": [{k: v for k, v in x.items() if v is not None}
                                       for x in t["traits"]]}
        for t in data["trait_types"]]
    return CookConfigOut.of(await station(request).cook.configure(user, collection_id, data))


@router.get(_COOK, response_model=CookConfigOut, responses=documented(*_AUTH, 400, 404))
async def get_cook(collection_id: str, request: Request,
                   user: Account = Depends(current_account)) -> CookConfigOut:
    return CookConfigOut.of(await station(request).cook.config(user, collection_id))


@router.get(_COOK + "/preview", response_model=list[PlanOut],
            responses=documented(*_AUTH, 400, 404))
async def preview_cook(collection_id: str, request: Request,
                       count: int = Query(5, ge=1, le=50),
                       user: Account = Depends(current_account)) -> list[PlanOut]:
    """The first pieces' traits and prompts, without making anything."""
    return [PlanOut.of(p) for p in await station(request).cook.preview(user, collection_id,
                                                                       count)]


@router.get(_COOK + "/quote", response_model=CookQuoteOut,
            responses=documented(*_AUTH, 400, 404))
async def quote_cook(collection_id: str, request: Request,
                     user: Account = Depends(current_account)) -> CookQuoteOut:
    """The price of the pieces still to make (each piece is held only while it runs)."""
    return CookQuoteOut.of(await station(request).cook.quote(user, collection_id))


@router.post(_COOK + "/start", status_code=202, response_model=CookStatusOut,
             responses=documented(*_AUTH, 400, 404, 409, 422))
async def start_cook(collection_id: str, request: Request, body: Start | None = None,
                     user: Account = Depends(current_account)) -> CookStatusOut:
    """Start cooking; the same configuration continues a paused or cancelled run."""
    status = await station(request).cook.start(user, collection_id, reply=WEB_REPLY,
                                               again=bool(body and body.again))
    return CookStatusOut.of(status)


@router.get(_COOK + "/status", response_model=CookStatusOut,
            responses=documented(*_AUTH, 404))
async def cook_status(collection_id: str, request: Request,
                      user: Account = Depends(current_account)) -> CookStatusOut:
    return CookStatusOut.of(await station(request).cook.status(user, collection_id))


def _action(name: str, doc: str) -> None:
    async def act(collection_id: str, request: Request,
                  user: Account = Depends(current_account)) -> CookStatusOut:
        return CookStatusOut.of(await getattr(station(request).cook, name)(user,
                                                                           collection_id))

    act.__doc__ = doc
    act.__name__ = f"{name}_cook"
    router.post(_COOK + f"/{name}", response_model=CookStatusOut,
                responses=documented(*_AUTH, 404, 409))(act)


_action("pause", "Start no new pieces; those running finish (and are paid as usual).")
_action("resume", "Continue a paused run.")
_action("cancel", "Stop: running pieces are cancelled and their holds released.")


@router.get(_COOK + "/pieces", response_model=list[PieceOut],
            responses=documented(*_AUTH, 400, 404))
async def list_pieces(
    collection_id: str, request: Request,
    state: Literal["pending", "claimed", "running", "done", "failed", "cancelled"] | None = None,
    page: int = Page, per_page: int = PerPage, user: Account = Depends(current_account),
) -> list[PieceOut]:
    found = await station(request).cook.pieces(user, collection_id, state=state, page=page,
                                               per_page=per_page)
    return [PieceOut.of(p) for p in found]


@router.post(_COOK + "/pieces/{number}/keep", response_model=ItemOut,
             responses=documented(*_AUTH, 404, 409, 422))
async def keep_piece(collection_id: str, number: int, request: Request,
                     user: Account = Depends(current_account)) -> ItemOut:
    """Keep a made piece: it becomes an item of the collection, with its traits."""
    item = await station(request).cook.keep(user, collection_id, number)
    return ItemOut.of(item, items_base(collection_id))


@router.post(_COOK + "/pieces/{number}/reject", response_model=PieceOut,
             responses=documented(*_AUTH, 404, 409, 422))
async def reject_piece(collection_id: str, number: int, request: Request,
                       user: Account = Depends(current_account)) -> PieceOut:
    return PieceOut.of(await station(request).cook.reject(user, collection_id, number))


@router.post(_COOK + "/pieces/{number}/regenerate", response_model=PieceOut,
             responses=documented(*_AUTH, 404, 409, 422))
async def regenerate_piece(collection_id: str, number: int, request: Request,
                           user: Account = Depends(current_account)) -> PieceOut:
    """Make the piece again: the same traits, a new seed."""
    return PieceOut.of(await station(request).cook.regenerate(user, collection_id, number))



"""The account: points balance and ledger, API keys, link codes and linked identities."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from stationthis.core.users import LINK_CODE_TTL, Account
from stationthis.platforms.web.api.views import Done
from stationthis.platforms.web.auth import current_account, station
from stationthis.platforms.web.errors import documented

router = APIRouter(prefix="/api/v1", tags=["account"])
_AUTH = (401, 403)


class BalanceOut(BaseModel):
    total: int
    allowance: int = Field(description="free points, spent first; refill by themselves")
    credit: int = Field(description="purchased or granted points")
    allowance_max: int
    next_refill_at: datetime | None
    full_in_seconds: float | None = Field(description="until the allowance is full again")


class LedgerRow(BaseModel):
    id: int
    kind: str = Field(description="grant | purchase | allowance | hold | capture | release | "
                      "refund | transfer")
    bucket: str
    amount: int = Field(description="effect on the balance")
    charged: int | None = Field(description="on capture rows: points charged")
    ref: str | None = Field(description="what the row belongs to, e.g. job:<id>")
    memo: str | None
    created_at: datetime


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the start of the key, to recognise it")
    created_at: datetime
    last_used_at: datetime | None


class NewKey(BaseModel):
    name: str = Field(max_length=100)


class CreatedKey(ApiKeyOut):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")


class LinkCode(BaseModel):
    code: str
    expires_in_seconds: int


class Redeem(BaseModel):
    code: str = Field(max_length=32)


class Identities(BaseModel):
    account_id: str
    identities: list[str]


@router.get("/balance", response_model=BalanceOut, responses=documented(*_AUTH))
async def balance(request: Request, user: Account = Depends(current_account)) -> BalanceOut:
    view = await station(request).account.balance(user)
    b = view.balance
    return BalanceOut(total=b.total, allowance=b.allowance, credit=b.credit,
                      allowance_max=b.allowance_max, next_refill_at=b.next_refill_at,
                      full_in_seconds=view.full_in.total_seconds() if view.full_in else None)


@router.get("/ledger", response_model=list[LedgerRow], responses=documented(*_AUTH, 422))
async def ledger(request: Request, user: Account = Depends(current_account),
                 limit: int = Query(50, ge=1, le=500)) -> list[LedgerRow]:
    """The newest ledger rows of the account (every change of the balance)."""
    rows = await station(request).account.history(user, limit)
    return [LedgerRow(id=r.id, kind=r.kind, bucket=r.bucket, amount=r.amount,
                      charged=r.charged, ref=r.ref, memo=r.memo, created_at=r.created_at)
            for r in rows]


@router.get("/account/keys", response_model=list[ApiKeyOut], responses=documented(*_AUTH))
async def list_keys(request: Request, user: Account = Depends(current_account)) -> list[ApiKeyOut]:
    return [ApiKeyOut(id=k.id, name=k.name, prefix=k.prefix, created_at=k.created_at,
                      last_used_at=k.last_used_at)
            for k in await station(request).auth.api_keys(user)]


@router.post("/account/keys", status_code=201, response_model=CreatedKey,
             responses=documented(*_AUTH, 400, 422))
async def create_key(body: NewKey, request: Request,
                     user: Account = Depends(current_account)) -> CreatedKey:
    """A new API key for programs (``Authorization: Bearer <key>``). Copy it now: it is
    never shown again."""
    made = await station(request).auth.create_api_key(user, body.name)
    k = made.key
    return CreatedKey(id=k.id, name=k.name, prefix=k.prefix, created_at=k.created_at,
                      last_used_at=k.last_used_at, key=made.secret)


@router.delete("/account/keys/{key_id}", response_model=Done, responses=documented(*_AUTH, 404))
async def revoke_key(key_id: str, request: Request,
                     user: Account = Depends(current_account)) -> Done:
    """Revoke a key: programs using it are refused from now on."""
    await station(request).auth.revoke_api_key(user, key_id)
    return Done()


@router.post("/account/link-code", response_model=LinkCode, responses=documented(*_AUTH))
async def link_code(request: Request, user: Account = Depends(current_account)) -> LinkCode:
    """A one-time code to enter on another platform (e.g. ``/link CODE`` in Telegram): that
    platform's account joins this one."""
    code = await station(request).account.link_code(user)
    return LinkCode(code=code, expires_in_seconds=int(LINK_CODE_TTL.total_seconds()))


@router.post("/account/link", response_model=Identities,
             responses=documented(*_AUTH, 400, 422, 429))
async def link(body: Redeem, request: Request,
               user: Account = Depends(current_account)) -> Identities:
    """Enter a code shown on another platform: this account joins that one (identities,
    images, jobs, datasets, models and purchased points move with it). After 10 codes that
    did not work within an hour, every code is refused (429) until the hour has passed."""
    app = station(request)
    kept = await app.account.link(user, body.code)
    return Identities(account_id=kept.id,
                      identities=[str(i) for i in await app.account.identities(kept)])


@router.get("/account/identities", response_model=Identities, responses=documented(*_AUTH))
async def identities(request: Request, user: Account = Depends(current_account)) -> Identities:
    idents = await station(request).account.identities(user)
    return Identities(account_id=user.id, identities=[str(i) for i in idents])

"""The account: balance and the allowance refill countdown, points spent per day, the ledger,
API keys (a new key is shown once), linked platforms (link codes) and the user's settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ....core.db import utcnow
from ....core.errors import StationError
from ....core.users import Account
from ..auth import station
from ..errors import status_of
from .common import PageRoute, SignedIn, form_of, page, redirect, text
from .format import chart, spent_per_day

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LEDGER_ROWS = 50
CHART_DAYS = 14
CHART_ROWS = 2000  # ledger rows read for the chart (two weeks of a busy user)


@router.get("/account")
async def account_page(request: Request, account: SignedIn) -> Response:
    return await _render(request, account)


@router.post("/account/keys")
async def create_key(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    try:
        new = await station(request).auth.create_api_key(account, text(form, "name"))
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    return await _render(request, account, 201, new_key=new)


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, account: SignedIn) -> Response:
    await form_of(request)
    await station(request).auth.revoke_api_key(account, key_id)
    return redirect("/account#keys")


@router.post("/account/link-code")
async def link_code(request: Request, account: SignedIn) -> Response:
    await form_of(request)
    code = await station(request).account.link_code(account)
    return await _render(request, account, link_code=code)


@router.post("/account/link")
async def link(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    try:
        await station(request).account.link(account, text(form, "code"))
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    return redirect("/account#platforms")


@router.post("/account/settings")
async def set_setting(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    key, value = text(form, "key"), text(form, "value").strip()
    app = station(request)
    try:
        if text(form, "reset") or value == "":
            await app.user_settings.reset(account, key or None)
        else:
            await app.user_settings.set(account, key, value)
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    return redirect("/account#settings")


@router.post("/account/password")
async def password(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    try:
        await station(request).auth.change_password(account, text(form, "current"),
                                                    text(form, "new"))
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    return await _render(request, account, notice="Your password was changed.")


async def _render(
    request: Request, account: Account, status_code: int = 200, **extra: Any
) -> Response:
    app = station(request)
    view = await app.account.balance(account)
    entries = await app.account.history(account, CHART_ROWS)
    now = utcnow()
    spent = chart(spent_per_day(entries, now.date(), CHART_DAYS))
    refill_seconds = (
        max(0, round((view.balance.next_refill_at - now).total_seconds()))
        if view.balance.next_refill_at else None
    )
    context: dict[str, Any] = {
        "view": view, "ledger": entries[:LEDGER_ROWS], "chart": spent,
        "refill_seconds": refill_seconds, "keys": await app.auth.api_keys(account),
        "identities": await app.account.identities(account),
        "settings": await app.user_settings.show(account), "new_key": None,
        "link_code": None, "error": None, "notice": None,
        "purchases": await app.purchases.history(account, 20),
    }
    context.update(extra)
    return page(request, "account.html", status_code, **context)

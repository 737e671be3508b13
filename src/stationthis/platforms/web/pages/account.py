"""The account: balance and the allowance refill countdown, points spent per day, the ledger
(one line per job, paged), API keys (a new key is shown once), linked platforms (link codes),
the user's settings, and where buying points will be.

A new API key: the post makes it and redirects (POST-redirect-GET, so a reload makes no
other); the secret rides to that one GET in a short-lived cookie, which the GET clears — it is
shown once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from stationthis.core.db import utcnow
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
from stationthis.platforms.web.pages.format import chart, spent_per_day
from stationthis.platforms.web.pages.ledger import describe, fold, page_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)
CHART_DAYS = 14
CHART_ROWS = 2000  # ledger rows read for the chart and the history (weeks of a busy user)
NEW_KEY_COOKIE = "stationthis_new_key"
NEW_KEY_SECONDS = 120


@router.get("/account")
async def account_page(request: Request, account: SignedIn,
                       number: int = Query(1, alias="page", ge=1, le=10_000)) -> Response:
    secret = request.cookies.get(NEW_KEY_COOKIE)
    response = await _render(request, account, ledger_page=number, new_secret=secret)
    if secret is not None:
        response.delete_cookie(NEW_KEY_COOKIE, path="/account", httponly=True,
                               samesite="strict")
    return response


@router.post("/account/keys")
async def create_key(request: Request, account: SignedIn) -> Response:
    form = await form_of(request)
    app = station(request)
    try:
        new = await app.auth.create_api_key(account, text(form, "name"))
    except StationError as exc:
        return await _render(request, account, status_of(exc), error=exc.message)
    response = redirect("/account#new-key")
    response.set_cookie(NEW_KEY_COOKIE, new.secret, max_age=NEW_KEY_SECONDS, path="/account",
                        httponly=True, samesite="strict", secure=app.settings.cookies_secure)
    return response


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
    request: Request, account: Account, status_code: int = 200, *, ledger_page: int = 1,
    new_secret: str | None = None, **extra: Any,
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
    lines, pager = page_of(fold(entries), ledger_page)
    await describe(lines, app.jobs)
    keys = await app.auth.api_keys(account)
    new_key = None
    if new_secret:
        named = next((k for k in keys if new_secret.startswith(k.prefix + "_")), None)
        if named is not None:  # a cookie for a key that was revoked since shows nothing
            new_key = {"name": named.name, "secret": new_secret}
    policy = app.account.policy
    context: dict[str, Any] = {
        "view": view, "ledger": lines, "pager": pager, "chart": spent,
        "refill_seconds": refill_seconds, "keys": keys,
        "identities": await app.account.identities(account),
        "settings": await app.user_settings.show(account), "new_key": new_key,
        "link_code": None, "error": None, "notice": None,
        "purchases": await app.purchases.history(account, 20),
        "refill_step": policy.step_amount, "refill_every": policy.interval_seconds,
    }
    context.update(extra)
    return page(request, "account.html", status_code, **context)

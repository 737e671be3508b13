"""Sign up, sign in and out, who am I, and the one-time sign-in link a bot sends."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from stationthis.core.auth import NotSignedIn
from stationthis.core.users import Account
from stationthis.platforms.web.api.views import Done
from stationthis.platforms.web.auth import (
    SESSION_COOKIE,
    csrf_token,
    current_account,
    end_session,
    start_session,
    station,
)
from stationthis.platforms.web.errors import documented

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
links = APIRouter(tags=["auth"])


class SignUp(BaseModel):
    username: str = Field(max_length=64, description="3–32 of a-z 0-9 . _ -")
    password: str = Field(max_length=200, description="8–200 characters")
    email: str | None = Field(None, max_length=254)


class SignIn(BaseModel):
    username: str = Field(max_length=254, description="the username or the email")
    password: str = Field(max_length=200)


class NewPassword(BaseModel):
    current: str = Field(max_length=200)
    new: str = Field(max_length=200)


class Me(BaseModel):
    id: str
    name: str
    tier: str
    identities: list[str] = Field(description="platform:id, e.g. web:alice, telegram:123")
    auth: str = Field(description="session | key")
    csrf_token: str | None = Field(
        description="send as X-CSRF-Token with every change made with the session cookie")


async def _me(request: Request, account: Account, csrf: str | None, via: str) -> Me:
    idents = await station(request).account.identities(account)
    return Me(id=account.id, name=account.name, tier=account.tier,
              identities=[str(i) for i in idents], auth=via, csrf_token=csrf)


@router.post("/signup", status_code=201, response_model=Me,
             responses=documented(400, 409, 413, 422, 429))
async def sign_up(body: SignUp, request: Request, response: Response) -> Me:
    """Create a web account (``web:<username>``) and sign this browser in. One address may
    try a few sign-ups an hour (``STATIONTHIS_WEB__SIGNUPS_PER_HOUR``); then 429 with
    ``Retry-After``."""
    app = station(request)
    client = request.client.host if request.client else ""
    account = await app.auth.sign_up(body.username, body.password, body.email, client)
    csrf = start_session(response, request, await app.auth.start_session(account))
    return await _me(request, account, csrf, "session")


@router.post("/signin", response_model=Me, responses=documented(401, 413, 422, 429))
async def sign_in(body: SignIn, request: Request, response: Response) -> Me:
    """Sign in with a username (or email) and password; sets the session cookie. After a few
    failures for one name from one address, attempts are refused for a growing time."""
    app = station(request)
    client = request.client.host if request.client else ""
    account = await app.auth.sign_in(body.username, body.password, client)
    csrf = start_session(response, request, await app.auth.start_session(account))
    return await _me(request, account, csrf, "session")


@router.post("/signout", response_model=Done, responses=documented(401, 403))
async def sign_out(
    request: Request, response: Response, _: Account = Depends(current_account)
) -> Done:
    """End this browser session (the cookie stops working everywhere at once)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and request.state.auth_via == "session":
        await station(request).auth.end_session(token)
    end_session(response)
    return Done()


@router.get("/me", response_model=Me, responses=documented(401))
async def me(request: Request, account: Account = Depends(current_account)) -> Me:
    """The signed-in account, and the CSRF token of a browser session."""
    via = request.state.auth_via
    return await _me(request, account, csrf_token(request) if via == "session" else None, via)


@router.post("/password", response_model=Done, responses=documented(400, 401, 403, 422))
async def change_password(
    body: NewPassword, request: Request, account: Account = Depends(current_account)
) -> Done:
    """Change the password; every other browser session of the account is signed out."""
    keep = request.cookies.get(SESSION_COOKIE) if request.state.auth_via == "session" else None
    await station(request).auth.change_password(account, body.current, body.new,
                                                 keep_session=keep)
    return Done()


@links.get("/auth/link/{token}", status_code=303, response_class=RedirectResponse,
           responses={303: {"description": "signed in; on to the studio (a browser whose "
                                           "link is used or expired: on to /signin?link=gone)"},
                      **documented(401)})
async def use_link(token: str, request: Request) -> RedirectResponse:
    """A one-time sign-in link (made by another platform, e.g. the Telegram bot's /web):
    signs this browser in once, within minutes of being made, and redirects to ``/``.
    A used, expired or unknown link sends a browser (``Accept: text/html``) to the sign-in
    page, which says so; other clients get the 401 error."""
    try:
        session = await station(request).auth.use_login_link(token)
    except NotSignedIn:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        return RedirectResponse("/signin?link=gone", status_code=303, headers={
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    redirect = RedirectResponse("/", status_code=303, headers={
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    start_session(redirect, request, session)
    return redirect

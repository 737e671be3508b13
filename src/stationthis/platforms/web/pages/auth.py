"""Sign up, sign in and sign out. The forms post here; the session cookie is set by
``auth.start_session``. A failed attempt shows the form again with the reason and what was
typed (never the password).

Before there is a session, the forms are protected from cross-site posts (login CSRF) by a
double-submit token: a random value in a SameSite=Strict cookie and in the form."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from stationthis.core.errors import StationError
from stationthis.core.users import Account
from stationthis.platforms.web.auth import (
    SESSION_COOKIE,
    check_csrf,
    end_session,
    optional_account,
    start_session,
    station,
)
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.common import PageRoute, page, redirect, text

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FORM_COOKIE = "stationthis_form"
EXPIRED = "this form has expired: please try again"
LINK_GONE = ("That sign-in link is unknown, expired or already used. Sign in below, or ask "
             "the bot for a new link (/web on Telegram).")


def _form(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A sign-in/up page with its double-submit token (the cookie's, or a new one)."""
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, template, status_code, form_token=token, **context)
    response.set_cookie(FORM_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=station(request).settings.cookies_secure, path="/")
    return response


def _retry_after(exc: StationError, response: Response) -> Response:
    """A refusal that says how long to wait says it in ``Retry-After`` too."""
    if "retry_after" in exc.details:
        response.headers["Retry-After"] = str(exc.details["retry_after"])
    return response


def _posted_from_here(request: Request, form: Any) -> bool:
    cookie = request.cookies.get(FORM_COOKIE, "")
    sent = form.get("csrf")
    return bool(cookie) and isinstance(sent, str) and hmac.compare_digest(cookie, sent)


def _safe_next(target: str) -> str:
    """Only a path on this site ("/gallery"), never another site ("//evil", "https://…")."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/signup")
async def signup_form(
    request: Request, account: Account | None = Depends(optional_account)
) -> Response:
    if account is not None:
        return redirect("/")
    return _form(request, "signup.html", username="", email="", error=None)


@router.post("/signup")
async def signup(request: Request) -> Response:
    form = await request.form()
    username, email = text(form, "username").strip(), text(form, "email").strip()
    if not _posted_from_here(request, form):
        return _form(request, "signup.html", 403, username=username, email=email, error=EXPIRED)
    app = station(request)
    client = request.client.host if request.client else ""
    try:
        account = await app.auth.sign_up(username, text(form, "password"), email or None,
                                         client)
    except StationError as exc:
        return _retry_after(exc, _form(request, "signup.html", status_of(exc),
                                       username=username, email=email, error=exc.message))
    response = redirect("/")
    start_session(response, request, await app.auth.start_session(account))
    return response


@router.get("/signin")
async def signin_form(
    request: Request, next: str = "/", account: Account | None = Depends(optional_account),
    link: str = "",
) -> Response:
    if account is not None:
        return redirect(_safe_next(next))
    # ``?link=gone``: a one-time sign-in link that was used or expired sent the browser here
    error = LINK_GONE if link == "gone" else None
    return _form(request, "signin.html", username="", next=_safe_next(next), error=error)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    username, target = text(form, "username").strip(), _safe_next(text(form, "next", "/"))
    if not _posted_from_here(request, form):
        return _form(request, "signin.html", 403, username=username, next=target, error=EXPIRED)
    app = station(request)
    client = request.client.host if request.client else ""
    try:
        account = await app.auth.sign_in(username, text(form, "password"), client)
    except StationError as exc:
        return _retry_after(exc, _form(request, "signin.html", status_of(exc),
                                       username=username, next=target, error=exc.message))
    response = redirect(target)
    start_session(response, request, await app.auth.start_session(account))
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await request.form()
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        csrf = form.get("csrf")
        check_csrf(request, csrf if isinstance(csrf, str) else "")
        await station(request).auth.end_session(token)
    response = redirect("/signin")
    end_session(response)
    return response

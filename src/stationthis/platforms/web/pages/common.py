"""What every page shares: the templates, the signed-in account, CSRF for forms, and errors
rendered as pages (a page never answers with the API's JSON error).

A page route declares ``account: Account = Depends(signed_in)``: without a session the browser
is sent to ``/signin?next=<this page>``. Forms carry the session's CSRF token in a hidden
``csrf`` field; ``form_of(request)`` reads the form and checks it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from stationthis.core.errors import InsufficientPoints, StationError
from stationthis.core.users import Account
from stationthis.platforms.web.auth import (
    SESSION_COOKIE,
    check_csrf,
    csrf_token,
    optional_account,
    runtime,
    station,
)
from stationthis.platforms.web.errors import status_of
from stationthis.platforms.web.pages.format import filters
from stationthis.platforms.web.pages.short import GET_POINTS_URL, explain

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
    trim_blocks=True, lstrip_blocks=True,
)
_env.filters.update(filters())
templates = Jinja2Templates(env=_env)


class SignInRequired(Exception):
    """Raised by ``signed_in``; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


async def signed_in(
    request: Request, account: Account | None = Depends(optional_account)
) -> Account:
    if account is None or getattr(request.state, "auth_via", "") != "session":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return account


SignedIn = Annotated[Account, Depends(signed_in)]


async def form_of(request: Request) -> FormData:
    """The posted form, after its CSRF token was checked against the session's."""
    form = await request.form()
    token = form.get("csrf")
    check_csrf(request, token if isinstance(token, str) else "")
    return form


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default


def page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page with what the layout needs: the account, the CSRF token, the engine."""
    engine = runtime(request).engine.name
    account = getattr(request.state, "account", None)
    if getattr(request.state, "auth_via", "") != "session":
        account = None  # pages are for browser sessions; an API key signs no page in
    context.setdefault("account", account)
    context.setdefault("csrf", csrf_token(request) if account is not None else None)
    context.setdefault("engine", engine)
    context.setdefault("preview", engine == "preview")
    context.setdefault("path", request.url.path)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


async def error_page(request: Request, status: int, message: str) -> Response:
    """The HTML page for an error outside a page route (an unknown address, a crash): see
    ``errors.py``. The header shows who is signed in, as on every page."""
    if not hasattr(request.state, "account"):
        try:
            await optional_account(request, None, request.cookies.get(SESSION_COOKIE))
        except StationError:
            request.state.account = None
    return page(request, "error.html", status, message=message, status=status, short=None)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def sign_in_url(next_url: str) -> str:
    return f"/signin?next={quote(next_url, safe='/')}"


class PageRoute(APIRoute):
    """Errors of a page route become pages: sign-in redirects, 404s, error messages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return redirect(sign_in_url(exc.next_url))
            except StationError as exc:
                status = status_of(exc)
                if status == 401:
                    return redirect(sign_in_url(request.url.path))
                short = None
                account = getattr(request.state, "account", None)
                if isinstance(exc, InsufficientPoints) and account is not None:
                    short = await explain(station(request), account.id, exc)
                return page(request, "error.html", status, message=exc.message,
                            status=status, short=short, get_points=GET_POINTS_URL)

        return handle

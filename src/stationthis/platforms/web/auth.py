"""Who is asking: a browser session (cookie) or a program (``Authorization: Bearer <key>``).

For routes and pages:

    account: Account = Depends(current_account)        # 401 when nobody is signed in
    account: Account | None = Depends(optional_account)
    start_session(response, request, session)          # after sign-in: sets the cookie
    end_session(response)                              # after sign-out: clears it
    csrf_token(request)                                # for forms and the page's fetch calls
    check_csrf(request, token)                         # a form post's token (pages)

A state-changing request (anything but GET/HEAD/OPTIONS) made with the session cookie must
carry the session's CSRF token in the ``X-CSRF-Token`` header (the API) or a form field (the
pages); requests with an API key need none (a browser never adds one by itself).
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from stationthis.core import log_context
from stationthis.core.auth import NotSignedIn
from stationthis.core.errors import Forbidden
from stationthis.core.users import Account
from stationthis.workflows.app import App
from stationthis.workflows.auth import Session
from stationthis.workflows.services import Services

SESSION_COOKIE = "stationthis_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

_bearer = HTTPBearer(auto_error=False, description="an API key (Account → API keys)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="a browser session (sign in at /api/v1/auth/signin)")


class CsrfFailed(Forbidden):
    code = "csrf_failed"


def station(request: Request) -> Services:
    """What a handler may use: the workflows (``workflows/services.py``), not the runtime."""
    services: Services = request.app.state.station
    return services


def runtime(request: Request) -> App:
    """The whole container, runtime included (the database, the bus, the engine): only for
    the few pages that report on the process itself (status, event stream, admin)."""
    app: App = request.app.state.station
    return app


async def optional_account(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    cookie: str | None = Depends(_cookie),
) -> Account | None:
    """The signed-in account, or None. A wrong API key is an error, not an anonymous call."""
    if hasattr(request.state, "account"):
        cached: Account | None = request.state.account
        return cached
    app = station(request)
    account: Account | None = None
    via = ""
    if bearer is not None:
        account = await app.auth.api_key_account(bearer.credentials)
        if account is None:
            raise NotSignedIn("that API key is unknown or revoked")
        via = "key"
    elif cookie:
        account = await app.auth.session_account(cookie)
        via = "session" if account else ""
    request.state.account = account
    request.state.auth_via = via
    if account is not None:
        log_context.bind(user_id=account.id)  # on every log line of this request from here
    return account


async def current_account(
    request: Request, account: Account | None = Depends(optional_account)
) -> Account:
    """The signed-in account; 401 when there is none. Checks CSRF for cookie sessions."""
    if account is None:
        raise NotSignedIn("sign in, or send an API key as 'Authorization: Bearer <key>'")
    if request.state.auth_via == "session" and request.method not in SAFE_METHODS:
        check_csrf(request, request.headers.get(CSRF_HEADER, ""))
    return account


def csrf_token(request: Request) -> str | None:
    """The CSRF token of the request's browser session (None without one)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return _csrf_for(request, cookie) if cookie else None


def check_csrf(request: Request, token: str) -> None:
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, token or ""):
        raise CsrfFailed(f"missing or wrong {CSRF_HEADER}: send the token from "
                         "GET /api/v1/auth/me with every change")


def start_session(response: Response, request: Request, session: Session) -> str:
    """Set the session cookie; returns the new session's CSRF token."""
    settings = station(request).settings
    max_age = max(1, int(settings.web.session_days * 86400))
    response.set_cookie(SESSION_COOKIE, session.token, max_age=max_age, httponly=True,
                        samesite="lax", secure=settings.cookies_secure, path="/")
    return _csrf_for(request, session.token)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def _csrf_for(request: Request, session_token: str) -> str:
    key = station(request).settings.derived_secret("csrf")
    return hmac.new(key, session_token.encode(), hashlib.sha256).hexdigest()[:40]

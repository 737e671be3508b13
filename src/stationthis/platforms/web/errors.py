"""One error shape for every API answer: ``{"error": {"code", "message", "details"}}``.

Domain errors (core/errors.py, core/auth.py) map to HTTP statuses here and nowhere else;
validation errors, unknown routes and oversized bodies use the same shape. ``documented``
lists the error answers of a route for the OpenAPI schema.

A browser (``Accept: text/html``) asking for a page outside ``/api/`` gets an HTML page for
the same errors (an unknown address, a crash) when the pages set ``web.state.error_page``
(``pages.install``); programs, and everything under ``/api/``, keep the JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SATimeout
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from stationthis.core import errors as e
from stationthis.core.auth import BadCredentials, NotSignedIn, TooManyAttempts

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: insufficient_points, not_found, …")
    message: str = Field(description="a sentence a person can read as it is")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    error: ErrorDetail


STATUS: list[tuple[type[e.StationError], int]] = [
    (NotSignedIn, 401),
    (BadCredentials, 401),
    (TooManyAttempts, 429),
    (e.NotFound, 404),
    (e.Forbidden, 403),
    (e.InsufficientPoints, 402),
    (e.TooManyJobs, 429),
    (e.Conflict, 409),
    (e.InvalidInput, 400),  # InvalidImage included
    (e.EngineFailed, 502),
]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
               413: "too_large", 415: "unsupported_media_type", 429: "too_many_requests"}
_DESCRIPTIONS = {
    400: "invalid input (`invalid_input`, `invalid_image`, `invalid_text`, `bad_request`)",
    401: "not signed in, or a wrong password (`unauthorized`, `invalid_credentials`)",
    402: "the balance is too low (`insufficient_points`; details: quote, available, "
         "alternatives)",
    403: "not allowed (`forbidden`, `csrf_failed`)",
    404: "no such object, or it belongs to someone else (`not_found`)",
    409: "conflicts with the current state (`conflict`)",
    413: "the body or a file is too large (`too_large`)",
    422: "the request does not match the schema (`validation_error`)",
    429: "too many jobs, or too many sign-ins, sign-ups or link codes for now "
         "(`too_many_jobs`, `too_many_attempts`; `Retry-After` says how long to wait)",
    502: "the generation backend failed (`engine_failed`)",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers a route can give."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def document_common(routes: Sequence[BaseRoute]) -> None:
    """Every route that reads a body can also answer 400 (not a body it can parse, or text
    that is not valid Unicode), 413 and 422; every route with parameters 422, and with query
    parameters 400 (a query string that is not UTF-8). (Call it before the routes are
    included.)"""
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        common = (400, 413, 422) if route.body_field is not None else ()
        if route.dependant.path_params or route.dependant.query_params:
            common = (*common, 422)
        if route.dependant.query_params:
            common = (*common, 400)
        for status, answer in documented(*common).items():
            route.responses.setdefault(status, answer)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message,
                      "details": jsonable_encoder(_plain(details or {}))}}
    return JSONResponse(body, status_code=status, headers=headers)


ErrorPage = Callable[[Request, int, str], Awaitable[Response]]


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, not a program that takes JSON)."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _answer(request: Request, json: JSONResponse, status: int, message: str) -> Response:
    render: ErrorPage | None = getattr(request.app.state, "error_page", None)
    if render is None or not wants_html(request):
        return json
    try:
        page = await render(request, status, message)
    except Exception:  # the error page itself failed: the JSON still says what happened
        log.exception("the error page for %s failed", request.url.path)
        return json
    for name in ("Retry-After", "Allow"):
        if name in json.headers:
            page.headers[name] = json.headers[name]
    return page


def status_of(exc: e.StationError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 400)


def install(web: FastAPI) -> None:
    @web.exception_handler(e.StationError)
    async def station_error(request: Request, exc: e.StationError) -> Response:
        status = status_of(exc)
        headers = None
        if "retry_after" in exc.details:
            headers = {"Retry-After": str(exc.details["retry_after"])}
        json = error_response(status, exc.code, exc.message, exc.details, headers)
        return await _answer(request, json, status, exc.message)

    @web.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"location": ".".join(str(p) for p in err.get("loc", ())),
             "message": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"location": "", "message": "invalid request"}
        message = f"{first['location']}: {first['message']}".strip(": ")
        json = error_response(422, "validation_error", message, {"errors": problems})
        return await _answer(request, json, 422, message)

    @web.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        json = error_response(exc.status_code, code, message,
                              headers=dict(exc.headers) if exc.headers else None)
        if exc.status_code == 404 and message == "Not Found":
            message = f"There is no page at {request.url.path}."
        return await _answer(request, json, exc.status_code, message)

    @web.exception_handler(SATimeout)
    @web.exception_handler(OperationalError)
    async def busy(request: Request, exc: Exception) -> Response:
        """The database is overloaded or unreachable: nothing was done; try again."""
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    type(exc).__name__)
        message = "the service is busy; nothing was done — try again in a few seconds"
        json = error_response(503, "unavailable", message, headers={"Retry-After": "5"})
        return await _answer(request, json, 503, message)

    @web.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "something went wrong on our side"
        json = error_response(500, "internal_error", message)
        return await _answer(request, json, 500, message)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

"""The server-rendered pages: sign up / in / out, the studio, jobs, gallery, datasets and
training, the account. Templates are in ``../templates``, CSS and a little JS in ``../static``.

``install(web)`` adds the pages and ``/static`` to the FastAPI app; it must run before any
other ``GET /`` route is added (the studio is the home page)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from stationthis.platforms.web.pages import (
    account,
    auth,
    collections,
    cook,
    docs,
    feed,
    gallery,
    inpaint,
    studio,
    styles,
    training,
)
from stationthis.platforms.web.pages.buy import router as buy_router
from stationthis.platforms.web.pages.common import STATIC, error_page


def install(web: FastAPI) -> None:
    for module in (auth, studio, feed, gallery, training, account, collections, cook, inpaint):
        web.include_router(module.router)
    web.include_router(styles.router)  # /styles: saved styles and wildcard lists (issue 20)
    web.include_router(buy_router)  # /buy: buying points (issue 18)
    docs.install(web)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.state.error_page = error_page  # browsers get HTML error pages (errors.py)

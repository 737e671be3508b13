"""The REST API under ``/api/v1``: one small router per area."""

from __future__ import annotations

from fastapi import APIRouter

from stationthis.platforms.web.api import (
    account,
    auth,
    collections,
    collections_links,
    cook,
    datasets,
    history,
    jobs,
    loras,
    media,
    purchases,
    settings,
    styles,
    tools,
)

ROUTERS: list[APIRouter] = [
    auth.router, auth.links, tools.router, jobs.router, history.router, media.router,
    settings.router, account.router, datasets.router, collections.router,
    collections_links.router, cook.router, purchases.router, styles.router,
    loras.router,
]

"""The web app: FastAPI. The REST API under ``/api/v1`` (routers in ``api/``), sign-in links
at ``/auth/link/{token}``, the pages (``pages/``) and the ComfyUI Deploy webhook.

Auth for routes and pages is in ``auth.py`` (``current_account``, ``optional_account``);
errors have one JSON shape (``errors.py``); bodies are size-limited (``limits.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from stationthis import __version__
from stationthis.core.engine import webhook_receiver
from stationthis.platforms.web import admin_console, errors, observe, pages, route_index
from stationthis.platforms.web.api import ROUTERS
from stationthis.platforms.web.errors import documented, error_response
from stationthis.platforms.web.headers import SecurityHeaders
from stationthis.platforms.web.limits import BodyLimit
from stationthis.platforms.web.text_guard import TextGuard
from stationthis.workflows.app import App

log = logging.getLogger(__name__)


class Health(BaseModel):
    status: str
    version: str
    engine: str
    engine_ok: bool
    engine_detail: str
    database: str = Field(description="ok | down")
    redis: str = Field(description="ok | down | not configured (Redis is optional)")


class Hosted(Protocol):
    """Another platform that runs inside the web process (a bot, a webhook endpoint).

    The web app never imports it: ``stationthis serve`` builds it and passes it here. Its
    ``router`` (or None) is mounted; ``start``/``stop`` run after the container has started
    and before it stops.
    """

    @property
    def router(self) -> APIRouter | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def create_app(
    app: App, *, manage_lifecycle: bool = True, hosted: Sequence[Hosted] = ()
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await app.start()
        started: list[Hosted] = []
        try:
            for platform in hosted:
                await platform.start()
                started.append(platform)
            yield
        finally:
            for platform in reversed(started):
                try:  # a platform that does not stop must not hang the process
                    async with asyncio.timeout(30):
                        await platform.stop()
                except TimeoutError:
                    log.error("stopping: %s did not stop within 30 s", type(platform).__name__)
            if manage_lifecycle:
                await app.stop()

    web = FastAPI(
        title="StationThis",
        version=__version__,
        description="A self-hostable AI image studio: REST API.",
        lifespan=lifespan,
    )
    web.state.station = app  # what ``auth.station(request)`` returns
    errors.install(web)
    settings = app.settings
    web.add_middleware(TextGuard)  # inside BodyLimit: valid Unicode text only
    web.add_middleware(
        BodyLimit, upload=settings.max_upload_bytes,
        dataset=settings.max_upload_bytes * settings.dataset_max_images,
        other=settings.web.max_json_bytes,
    )
    web.add_middleware(SecurityHeaders, https=settings.public_is_https)  # outermost: all answers
    settings.resolve_secret()  # CSRF tokens and webhooks are signed with the real secret

    async def health() -> Health:
        engine = await app.engine.health()
        try:
            async with app.db.read() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception:  # reported, not raised: this is the health check
            database = "down"
        redis = "not configured"
        if app.settings.redis_url:
            redis = "ok" if await app.signals.ping() else "down"
        ok = engine.ok and database == "ok" and redis != "down"
        return Health(
            status="ok" if ok else "degraded", version=__version__, engine=engine.name,
            engine_ok=engine.ok, engine_detail=engine.detail, database=database, redis=redis,
        )

    @web.get("/api/v1/health", response_model=Health, tags=["system"],
             responses={503: {"model": Health, "description": "the database is down"}})
    async def api_health(response: Response) -> Health:
        """Whether the service, its database, its generation engine and Redis are working.
        503 only when the database is down: without Redis (optional) jobs still run."""
        now = await health()
        if now.database != "ok":
            response.status_code = 503
        return now

    @web.post(
        "/api/v1/webhooks/comfydeploy/{token}", status_code=204, tags=["webhooks"],
        responses=documented(400, 403, 404, 413),
    )
    async def comfydeploy_webhook(token: str, request: Request) -> Response:
        """Run status from ComfyUI Deploy. The token in the URL authenticates it; the run is
        then read back from the API, so the body itself is never trusted."""
        receiver = webhook_receiver(app.engine)
        if receiver is None:
            return error_response(404, "not_found", "ComfyUI Deploy is not the active engine")
        body = await request.body()
        if len(body) > 1_000_000:
            return error_response(413, "too_large", "a webhook body is at most 1 MB")
        # Forbidden → 403, InvalidInput → 400 (errors.py)
        await receiver.receive_webhook(token, body)
        return Response(status_code=204)

    errors.document_common(web.routes)
    for router in ROUTERS:
        errors.document_common(router.routes)
        web.include_router(router)
    # The server-rendered pages (platforms/web/pages/): ``/`` is the studio when signed in,
    # a landing page with the service status otherwise; ``/status`` is the status page.
    pages.install(web)
    web.include_router(admin_console.router)  # /admin: admins only (admin_console.py)
    observe.install(web, app)  # request ids in logs, /metrics (observe.py)
    for platform in hosted:
        if platform.router is not None:
            web.include_router(platform.router)
    route_index.speed_up(web)  # each router skips at once a path it has no route for

    return web

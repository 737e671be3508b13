"""The web app: FastAPI. For now a health page and ``/api/v1/health``."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from ... import __version__
from ...core.errors import Forbidden, InvalidInput
from ...workflows.app import App


class Health(BaseModel):
    status: str
    version: str
    engine: str
    engine_ok: bool
    engine_detail: str
    database: str


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
                await platform.stop()
            if manage_lifecycle:
                await app.stop()

    web = FastAPI(
        title="StationThis",
        version=__version__,
        description="A self-hostable AI image studio: REST API.",
        lifespan=lifespan,
    )

    async def health() -> Health:
        engine = await app.engine.health()
        try:
            async with app.db.read() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # reported, not raised: this is the health check
            database = f"error: {type(exc).__name__}"
        ok = engine.ok and database == "ok"
        return Health(
            status="ok" if ok else "degraded", version=__version__, engine=engine.name,
            engine_ok=engine.ok, engine_detail=engine.detail, database=database,
        )

    @web.get("/api/v1/health", response_model=Health, tags=["system"])
    async def api_health() -> Health:
        """Whether the service, its database and its generation engine are working."""
        return await health()

    @web.post(
        "/api/v1/webhooks/comfydeploy/{token}", status_code=204, tags=["webhooks"],
        responses={400: {"description": "not a webhook body"},
                   403: {"description": "bad webhook signature"},
                   404: {"description": "ComfyUI Deploy is not the active engine"},
                   413: {"description": "body too large"}},
    )
    async def comfydeploy_webhook(token: str, request: Request) -> Response:
        """Run status from ComfyUI Deploy. The token in the URL authenticates it; the run is
        then read back from the API, so the body itself is never trusted."""
        receive = getattr(app.engine, "receive_webhook", None)
        if receive is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        body = await request.body()
        if len(body) > 1_000_000:
            return JSONResponse({"error": "too_large"}, status_code=413)
        try:
            await receive(token, body)
        except Forbidden as exc:
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=403)
        except InvalidInput as exc:
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=400)
        return Response(status_code=204)

    for platform in hosted:
        if platform.router is not None:
            web.include_router(platform.router)

    @web.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> str:
        h = await health()
        note = (
            "<p class=note>Images come from the built-in <b>preview engine</b>: procedural "
            "pictures, not an AI model. Configure a ComfyUI backend for real generation.</p>"
            if h.engine == "preview"
            else ""
        )
        return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<title>StationThis</title><style>
body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
.ok{{color:#176f2c}}.bad{{color:#a11}}.note{{background:#fff6d6;padding:.6rem;border-radius:6px}}
</style></head><body>
<h1>StationThis</h1>
<p>Status: <b class="{'ok' if h.status == 'ok' else 'bad'}">{h.status}</b> · version {h.version}</p>
<ul><li>Engine: {html.escape(h.engine)} — {html.escape(h.engine_detail)}</li>
<li>Database: {html.escape(h.database)}</li></ul>
{note}
<p>API: <a href="/api/v1/health">/api/v1/health</a> · <a href="/docs">/docs</a></p>
</body></html>"""

    return web

"""The web app: FastAPI. For now a health page and ``/api/v1/health``."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import text

from ... import __version__
from ...workflows.app import App


class Health(BaseModel):
    status: str
    version: str
    engine: str
    engine_ok: bool
    engine_detail: str
    database: str


def create_app(app: App, *, manage_lifecycle: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await app.start()
        try:
            yield
        finally:
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

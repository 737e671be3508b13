"""The API docs (``/docs``: Swagger UI, ``/redoc``: ReDoc) from local files, never a CDN, so
they work offline and under a self-only Content-Security-Policy; and the favicon.

The Swagger UI and ReDoc bundles come from the ``fastapi-offline`` package (its ``static``
folder), served at ``/docs-assets``; the pages' own start-up script is ``static/docs.js``
(the policy allows no inline script). FastAPI's CDN-based ``/docs`` and ``/redoc`` are
replaced."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from stationthis.platforms.web.pages.common import STATIC, templates

ASSETS_URL = "/docs-assets"
_REPLACED = ("/docs", "/docs/oauth2-redirect", "/redoc")


def assets_folder() -> Path | None:
    """The folder with swagger-ui-bundle.js, swagger-ui.css and redoc.standalone.js."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install(web: FastAPI) -> None:
    web.router.routes[:] = [r for r in web.router.routes if not _replaced(r)]
    folder = assets_folder()
    if folder is not None:
        web.mount(ASSETS_URL, StaticFiles(directory=folder), name="docs-assets")
    openapi = web.openapi_url or "/openapi.json"

    async def docs(request: Request) -> Response:
        return _page(request, "swagger", openapi, folder is not None)

    async def redoc(request: Request) -> Response:
        return _page(request, "redoc", openapi, folder is not None)

    async def favicon() -> Response:
        return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=604800"})

    web.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
    web.add_api_route("/redoc", redoc, include_in_schema=False, response_class=HTMLResponse)
    web.add_api_route("/favicon.ico", favicon, include_in_schema=False)


def _replaced(route: BaseRoute) -> bool:
    return getattr(route, "path", None) in _REPLACED


def _page(request: Request, kind: str, openapi: str, assets: bool) -> Response:
    return templates.TemplateResponse(request, "docs.html", {
        "kind": kind, "openapi": openapi, "assets": assets, "assets_url": ASSETS_URL})

"""The routing shortcut (platforms/web/route_index.py) never changes which route answers: for
a path made from every route of the app (and near misses of it), the route FastAPI picks with
the shortcut is the one it picks without it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match

from stationthis.platforms.web import route_index
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App

pytestmark = pytest.mark.skipif(route_index._Branch is None,
                                reason="this FastAPI flattens included routers")


def scope(method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path,
            "headers": [], "query_string": b""}


def picked(web: FastAPI, request: dict[str, Any]) -> tuple[str, Any]:
    """The first route that matches fully (else partly), and the matched parameters,
    as the router's loop finds them."""
    partial = None
    for route in web.router.routes:
        match, child = route.matches(dict(request))
        if match == Match.FULL:
            return "full", _leaf(child, route)
        if match == Match.PARTIAL and partial is None:
            partial = ("partial", _leaf(child, route))
    return partial or ("none", None)


def _leaf(child: dict[str, Any], route: BaseRoute) -> Any:
    return (child.get("endpoint"), child.get("path_params"), child.get("route") or route)


def sample_paths(web: FastAPI) -> list[str]:
    formats: list[str] = []

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                walk(original.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "path_format"):
                formats.append(prefix + route.path_format)

    walk(web.router.routes, "")
    paths = set()
    for path_format in formats:
        path = re.sub(r"\{[^}]*\}", "x1", path_format)
        paths.update({path, path + "/", path + "/extra", path.rstrip("/") + "x"})
    paths.update({"/", "/nothing-here", "/api/v1/", "/api/v1/nothing"})
    return sorted(paths)


async def test_every_route_is_picked_as_without_the_shortcut(app: App) -> None:
    web = create_app(app, manage_lifecycle=False)
    branches = [r for r in web.router.routes if isinstance(r, route_index.IndexedBranch)]
    assert len(branches) > 10  # the API's and the pages' routers got the shortcut
    requests = [scope(method, path) for path in sample_paths(web)
                for method in ("GET", "POST", "DELETE")]
    requests.append(scope("GET", "/proxy/api/v1/jobs", root_path="/proxy"))
    with_shortcut = [picked(web, r) for r in requests]
    for branch in branches:
        branch.__class__ = route_index._Branch
    without = [picked(web, r) for r in requests]
    assert with_shortcut == without
    assert sum(1 for kind, _ in without if kind == "full") > 150

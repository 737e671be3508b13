"""Routing at the cost of the routes that could match, not of all ~220 of them.

FastAPI (0.16x) keeps each ``include_router`` as one branch of the app's route list and, for
every request, tries each route of each branch in turn, at ~5 µs a route: a request for the
last route paid ~1 ms before any work (measured with ``bench/web.py``'s ``GET /bench/noop``
and cProfile; the middleware itself was ~20 µs of it).

``speed_up(web)`` lets each branch refuse a request at once when the request's path is
none of its routes' paths without parameters and does not start with the literal beginning
(the text before the first ``{``) of any of its routes with parameters: no route of it could
match, so FastAPI's answer would have been "no match"
too. Anything else (a path under a ``root_path``, a branch holding other kinds of routes) goes
through FastAPI's own matching, unchanged. With a FastAPI that flattens included routes
(older versions) there is no branch to speed up and nothing changes.
"""

from __future__ import annotations

from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

# FastAPI ≥ 0.16x: included routers are branches of the route list; None with an older
# FastAPI, which flattens included routes.
_Branch: Any = getattr(fastapi.routing, "_IncludedRouter", None)


def literal_start(path_format: str) -> str:
    """The part of a route's path before its first parameter: every path it matches starts
    with it."""
    return path_format.split("{", 1)[0]


if _Branch is not None:

    class IndexedBranch(_Branch):  # type: ignore[misc]
        """An included router that refuses at once a path none of its routes can match."""

        _starts_of: Any = None  # the router's routes version the starts were computed at
        _starts: tuple[str, ...] | None = None  # None: no shortcut for this branch
        _whole: frozenset[str] = frozenset()  # the paths of its routes without parameters

        def _literal_starts(self) -> tuple[str, ...] | None:
            # The router's own change counter (a nested router's does not matter: a branch
            # holding one gets no shortcut).
            version = getattr(self.original_router, "_routes_version", None)
            if version is None or version != self._starts_of:
                candidates = self.effective_candidates()
                starts: list[str] = []
                whole: set[str] = set()
                for candidate in candidates:
                    route = getattr(candidate, "original_route", None)
                    path_format = getattr(candidate, "path_format", "")
                    if not isinstance(route, APIRoute) or not path_format:
                        starts, whole = [], set()  # a mount, a nested branch…: FastAPI decides
                        break
                    if "{" in path_format:
                        starts.append(literal_start(path_format))
                    else:
                        whole.add(path_format)
                self._starts = tuple(starts) if starts or whole else None
                self._whole = frozenset(whole)
                self._starts_of = version
            return self._starts

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            starts = self._literal_starts()
            if starts is not None and scope["type"] == "http" and not scope.get("root_path"):
                path = scope["path"]
                if path not in self._whole and not path.startswith(starts):
                    return Match.NONE, {}
            return super().matches(scope)  # type: ignore[no-any-return]


def speed_up(web: FastAPI) -> int:
    """Give every included router of ``web`` the shortcut; how many got it. Call it once all
    routers are included (a router included later works as before, only slower)."""
    if _Branch is None:
        return 0
    n = 0
    for route in web.router.routes:
        if type(route) is _Branch:
            route.__class__ = IndexedBranch
            n += 1
    return n

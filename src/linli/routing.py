"""Route lookup by the path's leading segments. Starlette's router tries every route in order
until one matches (a regular expression each, about 640 of them here): about a fifth of an
in-process request's time. `index_routes` puts an index in front of it: only the routes whose
literal leading segments are the path's own are tried, in their order, so the first full match
is the one the router would have found (a route whose literal segments differ cannot match).
Anything else, a partial match (405), a redirect, a 404, lifespan, goes to the router as
before.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path  # the path the router matches (root_path off)
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

DEPTH = 3  # literal segments indexed: /api/v1/groupbuy, /merchant/live-orders, ...


def segments(path: str) -> list[str]:
    """`/api/v1/x` -> `["api", "v1", "x"]`; `/` -> `[""]` (exactly one leading slash goes)."""
    return path.removeprefix("/").split("/")


def _literal_prefix(route: BaseRoute) -> tuple[str, ...]:
    """The literal segments every path a route matches starts with (at most DEPTH, up to the
    first one holding a parameter); `()` for a route tried on every path."""
    if not isinstance(route, Route | WebSocketRoute | Mount) or not route.path:
        return ()
    prefix: list[str] = []
    for segment in segments(route.path)[:DEPTH]:
        if "{" in segment:
            break
        prefix.append(segment)
    return tuple(prefix)


class RouteIndex:
    """The routes by their literal prefix. A path's candidates are the routes whose prefix is
    one of the path's own leading segments, in the router's order; kept per prefix walked
    (at most one list per prefix any route has). Rebuilt when the router's routes change."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._built_for: list[BaseRoute] | None = None
        self._count = -1
        self._at: dict[tuple[str, ...], list[int]] = {}
        self._nodes: set[tuple[str, ...]] = set()
        self._walked: dict[tuple[str, ...], list[BaseRoute]] = {}

    def candidates(self, path: str) -> list[BaseRoute]:
        routes = self.router.routes
        if routes is not self._built_for or len(routes) != self._count:
            self._build(routes)
        key: tuple[str, ...] = ()
        for segment in segments(path)[:DEPTH]:
            deeper = (*key, segment)
            if deeper not in self._nodes:
                break
            key = deeper
        found = self._walked.get(key)
        if found is None:
            positions = sorted(p for n in range(len(key) + 1) for p in self._at.get(key[:n], ()))
            found = self._walked[key] = [routes[p] for p in positions]
        return found

    def _build(self, routes: list[BaseRoute]) -> None:
        self._at, self._nodes, self._walked = {}, set(), {}
        for position, route in enumerate(routes):
            prefix = _literal_prefix(route)
            self._at.setdefault(prefix, []).append(position)
            self._nodes.update(prefix[:n] for n in range(1, len(prefix) + 1))
        self._built_for, self._count = routes, len(routes)


def index_routes(router: Router) -> RouteIndex:
    """Put a `RouteIndex` in front of the router (which must have no middleware of its own)."""
    inner = router.middleware_stack
    if inner != router.app:
        raise TypeError("the router has middleware of its own: the index would skip it")
    index = RouteIndex(router)

    async def indexed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            for route in index.candidates(get_route_path(scope)):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await inner(scope, receive, send)

    router.middleware_stack = indexed
    return index


def full_match(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    """The first route of `routes` that fully matches `scope` (the router's choice)."""
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None

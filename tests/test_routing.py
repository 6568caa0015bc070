"""The route index (linli.routing) finds, for every path of every route and for paths no
route has, the route Starlette's router would find by trying them all in order."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount, Route

from linli.routing import RouteIndex, full_match, segments

PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def concrete(path: str) -> str:
    """A path a route's template matches: `1` for every parameter (`a/b` for a path)."""
    return PARAM.sub(lambda m: "a/b" if m.group(2) == "path" else "1", path)


def scope_of(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def probes(app: FastAPI) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in app.router.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                found.append((method, concrete(route.path)))
                found.append((method, concrete(route.path) + "/"))
        elif isinstance(route, Mount):
            found.append(("GET", route.path + "/css/app.css"))
    for path in ("/", "/nothing-here", "/api", "/api/v1", "/api/v1/nothing", "/static", "//x"):
        for method in ("GET", "POST", "DELETE"):
            found.append((method, path))
    return found


def test_the_index_finds_the_route_the_router_finds_for_every_path(app: FastAPI) -> None:
    index: RouteIndex = app.state.route_index
    routes: list[BaseRoute] = app.router.routes
    checked = 0
    for method, path in probes(app):
        scope = scope_of(method, path)
        assert full_match(index.candidates(path), scope) is full_match(routes, scope), (
            method,
            path,
        )
        checked += 1
    assert checked > 1000  # every route, twice, and the misses
    # The index does narrow the search: an API path is not tried against every page route.
    assert len(index.candidates("/api/v1/groupbuy/orders")) < len(routes) / 10


def test_segments() -> None:
    assert segments("/api/v1/x") == ["api", "v1", "x"]
    assert segments("/") == [""]
    assert segments("//x") == ["", "x"]
    assert segments("/static") == ["static"]


async def test_requests_still_get_404_405_and_redirects(app: FastAPI, client: object) -> None:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    assert (await client.get("/no-such-page")).status_code == 404
    assert (await client.delete("/healthz")).status_code == 405
    assert (await client.get("/healthz")).status_code == 200

"""The public trace page of a batch or order-line code (/t/{code}) and its QR code. The view is
built in public_view.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.datastructures import State
from starlette.responses import Response
from starlette.types import Scope

from linli.authz import Actor, current_actor
from linli.db import DbSession
from linli.middleware import PAGE_GUARD
from linli.ratelimit import RateLimiter
from linli.trace import codes
from linli.trace.public_view import MAX_PAGE, batch_of_code, trace_view
from linli.web import render

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Path(min_length=2, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
AnyActor = Annotated[Actor, Depends(current_actor)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _limiter(state: State) -> RateLimiter:
    limiter: RateLimiter | None = getattr(state, "trace_page_limiter", None)
    if limiter is None:
        limiter = state.trace_page_limiter = RateLimiter(state.settings.trace_page_rate)
    return limiter


def limit_anonymous(request: Request, actor: Actor, scope: str) -> None:
    """Anonymous visitors of the expensive public pages are rate-limited per address
    (LINLI_TRACE_PAGE_RATE a minute); 429 with Retry-After beyond it."""
    if actor.is_authenticated:
        return
    _limiter(request.app.state).check(request, scope)


def kept_views_limited(state: State, scope: str) -> Callable[[Scope], bool]:
    """The same limit for answers from the kept page (middleware.PAGE_GUARD): each takes a
    token; one over the limit goes on to the route, which answers 429."""

    def allowed(request_scope: Scope) -> bool:
        client = request_scope.get("client")
        address = client[0] if client else "unknown"
        return _limiter(state).wait_seconds(f"{scope}:{address}") == 0

    return allowed


@router.get("/t/{code}")
async def trace_page(
    request: Request, code: Code, session: DbSession, actor: AnyActor, page: Page = 1
) -> Response:
    limit_anonymous(request, actor, "trace")
    view = await trace_view(session, code, page)
    setattr(request.state, PAGE_GUARD, kept_views_limited(request.app.state, "trace"))
    return render(request, "trace/public.html", view | {"view": view}, actor=actor, public=True)


@router.get("/t/{code}/qr.svg")
async def trace_qr(request: Request, code: Code, session: DbSession, actor: AnyActor) -> Response:
    limit_anonymous(request, actor, "trace")
    await batch_of_code(session, code)  # 404 for unknown codes
    base = str(request.app.state.settings.public_base_url).rstrip("/")
    return Response(
        codes.qr_svg(f"{base}/t/{code}"),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )

"""The public trace page of a batch or order-line code (/t/{code}) and its QR code. The view is
built in public_view.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from linli.authz import Actor, current_actor
from linli.db import DbSession
from linli.trace import codes
from linli.trace.public_view import batch_of_code, trace_view
from linli.web import render

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Path(min_length=2, max_length=20, pattern=r"^[A-Za-z0-9]+$")]
AnyActor = Annotated[Actor, Depends(current_actor)]


@router.get("/t/{code}")
async def trace_page(request: Request, code: Code, session: DbSession, actor: AnyActor) -> Response:
    view = await trace_view(session, code)
    return render(request, "trace/public.html", view | {"view": view}, actor=actor)


@router.get("/t/{code}/qr.svg")
async def trace_qr(request: Request, code: Code, session: DbSession) -> Response:
    await batch_of_code(session, code)  # 404 for unknown codes
    base = str(request.app.state.settings.public_base_url).rstrip("/")
    return Response(
        codes.qr_svg(f"{base}/t/{code}"),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )

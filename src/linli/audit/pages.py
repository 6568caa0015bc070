"""HTML page of the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import OptionalQueryId
from linli.audit import service
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.web import render

router = APIRouter(include_in_schema=False)


@router.get("/audit")
async def audit_page(
    request: Request,
    session: DbSession,
    actor: Annotated[Actor, Depends(require_user)],
    before_id: OptionalQueryId = None,
) -> Response:
    entries = await service.list_entries(session, actor, before_id=before_id, limit=50)
    return render(request, "audit/list.html", {"entries": entries}, actor=actor)

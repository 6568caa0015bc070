"""The rules in force, for platform staff: every version with its legal basis and values."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.authz import PLATFORM_AUDIT_READ, Actor, ensure, require_user
from linli.db import DbSession
from linli.rules import service
from linli.web import render

router = APIRouter(include_in_schema=False)


@router.get("/ops/rules")
async def rules_page(
    request: Request, session: DbSession, actor: Annotated[Actor, Depends(require_user)]
) -> Response:
    ensure(actor, PLATFORM_AUDIT_READ)
    versions = [
        (row, json.dumps(row.values, ensure_ascii=False, indent=2))
        for row in await service.all_versions(session)
    ]
    return render(request, "rules/list.html", {"versions": versions}, actor=actor)

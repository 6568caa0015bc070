"""JSON route for reading the audit log (platform auditors, organisation managers)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from linli.apitypes import OptionalQueryId, PageSize
from linli.audit import service
from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.schemas import OutputModel

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


class AuditEntryOut(OutputModel):
    id: int
    at: datetime
    user_id: int | None
    organisation_id: int | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]


@router.get("", summary="Audit entries, newest first")
async def entries(
    session: DbSession,
    actor: Annotated[Actor, Depends(require_scope("org:read", "platform"))],
    action: Annotated[str | None, Query(max_length=80, pattern=r"^[a-z_.]+$")] = None,
    before_id: OptionalQueryId = None,
    limit: PageSize = 50,
) -> list[AuditEntryOut]:
    rows = await service.list_entries(
        session, actor, action=action, before_id=before_id, limit=limit
    )
    return [AuditEntryOut.model_validate(r) for r in rows]

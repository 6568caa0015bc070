"""JSON routes for platform operators: event delivery and due jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from linli.apitypes import PageSize, PathId
from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.ops import service
from linli.schemas import OutputModel

router = APIRouter(prefix="/api/v1/ops", tags=["operations"], responses=ERROR_RESPONSES)
Operator = Annotated[Actor, Depends(require_scope("platform"))]
EventStatus = Literal["pending", "delivered", "dead"]
JobStatus = Literal["pending", "done", "dead"]


class OutboxEventOut(OutputModel):
    seq: int
    event_id: str
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    available_at: datetime
    delivered_at: datetime | None


class DueJobOut(OutputModel):
    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    due_at: datetime
    done_at: datetime | None


@router.get("/outbox/counts", summary="Events by delivery status")
async def counts(session: DbSession, actor: Operator) -> dict[str, int]:
    return await service.outbox_counts(session, actor)


@router.get("/outbox", summary="Recent events, dead letters first to look at")
async def events(
    session: DbSession,
    actor: Operator,
    status: Annotated[EventStatus | None, Query()] = None,
    limit: PageSize = 50,
) -> list[OutboxEventOut]:
    rows = await service.list_events(session, actor, status=status, limit=limit)
    return [OutboxEventOut.model_validate(r) for r in rows]


@router.post("/outbox/{seq}/requeue", summary="Requeue a dead event")
async def requeue_event(seq: PathId, session: DbSession, actor: Operator) -> OutboxEventOut:
    row = await service.requeue_event(session, actor, seq)
    return OutboxEventOut.model_validate(row)


@router.get("/jobs", summary="Due-time jobs")
async def jobs(
    session: DbSession,
    actor: Operator,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: PageSize = 50,
) -> list[DueJobOut]:
    rows = await service.list_jobs(session, actor, status=status, limit=limit)
    return [DueJobOut.model_validate(r) for r in rows]


@router.post("/jobs/{job_id}/requeue", summary="Requeue a dead job")
async def requeue_job(job_id: PathId, session: DbSession, actor: Operator) -> DueJobOut:
    row = await service.requeue_job(session, actor, job_id)
    return DueJobOut.model_validate(row)

"""HTML pages for operators: event delivery, dead letters and due jobs (and the warning that a
year's working-day calendar is missing)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.i18n import _
from linli.ops import service
from linli.rules import workdays
from linli.web import redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]


@router.get("/ops/outbox")
async def outbox_page(
    request: Request,
    session: DbSession,
    actor: User_,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = "dead",
) -> Response:
    counts = await service.outbox_counts(session, actor)
    events = await service.list_events(session, actor, status=status, limit=100)
    jobs = await service.list_jobs(session, actor, status=None, limit=50)
    context = {
        "counts": counts,
        "events": events,
        "jobs": jobs,
        "status": status,
        # Operators' warning: a year ahead without a working-day calendar (rules.workdays)
        "calendar_missing_years": await workdays.missing_years_ahead(session),
    }
    return render(request, "ops/outbox.html", context, actor=actor)


@router.post("/ops/outbox/{seq}/requeue")
async def requeue_event(seq: PathId, session: DbSession, actor: User_) -> Response:
    await service.requeue_event(session, actor, seq)
    return redirect("/ops/outbox", text=_("Requeued."))


@router.post("/ops/jobs/{job_id}/requeue")
async def requeue_job(job_id: PathId, session: DbSession, actor: User_) -> Response:
    await service.requeue_job(session, actor, job_id)
    return redirect("/ops/outbox", text=_("Requeued."))

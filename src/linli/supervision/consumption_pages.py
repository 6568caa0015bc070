"""The consumption statistics page (`/supervision/consumption`): paid amounts and purchases by
consumption type, goods and services, for regulators (their jurisdiction) and the platform's
operators (every seller). Scoped by `consumption.consumption_report`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.errors import ValidationFailed
from linli.forms import calendar_date
from linli.supervision import consumption
from linli.web import render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
DayText = Annotated[str, Query(max_length=20)]


@router.get("/supervision/consumption")
async def consumption_page(
    request: Request, session: DbSession, actor: User_, first: DayText = "", last: DayText = ""
) -> Response:
    await consumption.scope_of(session, actor)  # 403 before reading the form
    error: ValidationFailed | None = None
    try:
        report = await consumption.consumption_report(
            session,
            actor,
            calendar_date(first, "first") if first.strip() else None,
            calendar_date(last, "last") if last.strip() else None,
        )
    except ValidationFailed as failure:
        error = failure
        report = await consumption.consumption_report(session, actor)
    return render(
        request,
        "supervision/consumption.html",
        {
            "report": report,
            "form": {"first": first, "last": last},
            "error": error,
            "source_labels": consumption.SOURCE_LABELS,
        },
        actor=actor,
    )

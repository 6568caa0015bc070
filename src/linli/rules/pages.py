"""The rules in force, for platform staff: every version with its legal basis and values; the
working-day calendar and its overrides (docs/operator-guide.md)."""

from __future__ import annotations

import json
from typing import Annotated

from babel import dates as babel_dates
from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli import clock, i18n
from linli.authz import (
    PLATFORM_AUDIT_READ,
    RULES_CALENDAR_MANAGE,
    Actor,
    ensure,
    require,
    require_user,
)
from linli.db import DbSession
from linli.errors import DomainError
from linli.i18n import _
from linli.rules import service, workday_overrides, workdays
from linli.rules.schemas import OverrideIn, OverrideRemoveIn
from linli.web import form_data, redirect, render, settle_failed_form, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
CALENDAR_PAGE = "/ops/rules/calendar"


@router.get("/ops/rules")
async def rules_page(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, PLATFORM_AUDIT_READ)
    versions = [
        (row, json.dumps(row.values, ensure_ascii=False, indent=2))
        for row in await service.all_versions(session)
    ]
    missing = await workdays.missing_years_ahead(session)
    return render(
        request,
        "rules/list.html",
        {"versions": versions, "calendar_missing_years": missing},
        actor=actor,
    )


async def _calendar_context(session: AsyncSession) -> dict[str, object]:
    calendar = await workdays.load(session)
    this_year = workdays.local_date(clock.now()).year
    years = sorted({this_year, this_year + 1} | {day.year for day in calendar.overrides})
    locale = i18n.babel_locale()
    overrides = [
        (o, babel_dates.format_date(o.day, format="full", locale=locale))
        for o in sorted(calendar.overrides.values(), key=lambda o: o.day)
    ]
    return {
        "calendar": calendar,
        "package_years": workdays.package_years(),
        "package_version": workdays.PACKAGE_VERSION,
        "years": [(year, calendar.year_source(year)) for year in years],
        "overrides": overrides,
        "calendar_missing_years": calendar.missing_years((this_year, this_year + 1)),
        "kinds": workdays.DAY_KIND_LABELS,
    }


@router.get(CALENDAR_PAGE)
async def calendar_page(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, RULES_CALENDAR_MANAGE)
    context = await _calendar_context(session)
    return render(request, "rules/calendar.html", {**context, "form": {}}, actor=actor)


@router.post(CALENDAR_PAGE, dependencies=[Depends(require(RULES_CALENDAR_MANAGE))])
async def override_set(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    try:
        data = validate_form(OverrideIn, form)
        await workday_overrides.set_override(session, actor, data)
    except DomainError as error:
        return await _refused(request, session, actor, form, error)
    return redirect(CALENDAR_PAGE, text=_("Saved."))


@router.post(f"{CALENDAR_PAGE}/remove", dependencies=[Depends(require(RULES_CALENDAR_MANAGE))])
async def override_remove(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    try:
        data = validate_form(OverrideRemoveIn, form)
        await workday_overrides.remove_override(session, actor, data)
    except DomainError as error:
        return await _refused(request, session, actor, {}, error)
    return redirect(CALENDAR_PAGE, text=_("Override removed."))


async def _refused(
    request: Request, session: DbSession, actor: Actor, form: dict[str, str], error: DomainError
) -> Response:
    await settle_failed_form(session, error)
    context = await _calendar_context(session)
    return render(
        request,
        "rules/calendar.html",
        {**context, "form": form, "error": error},
        status_code=error.status_code,
        actor=actor,
    )

"""Pages: report a suspected violation (/supervision/reports/new), my reports and their status,
the platform's triage queue (/ops/supervision/reports), the reports forwarded to a regulator
(/regulator/reports), and one report's page with the forms its parties may use
(docs/supervision-reports.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import (
    PLATFORM_SUPERVISION_REPORTS,
    REGULATOR_REPORTS,
    REGULATOR_REPORTS_READ,
    SUPERVISION_MANAGE,
    Actor,
    ensure,
    require_user,
)
from linli.db import DbSession
from linli.errors import DomainError, NotFound, ValidationFailed
from linli.files import service as files
from linli.i18n import N_
from linli.supervision import case_service, reports
from linli.supervision.labels import LABELS
from linli.supervision.report_files import PHOTO_TYPES, file_response
from linli.supervision.report_models import Report, ReporterRole, ReportStatus
from linli.web import flash_error, form_action, form_data, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
BASE = "/supervision/reports"


async def _list(
    request: Request, session: DbSession, actor: Actor, rows: Sequence[Report], heading: str
) -> Response:
    named = await reports.names(session, {r.merchant_organisation_id for r in rows})
    return render(
        request,
        "supervision/reports_list.html",
        {"rows": rows, "names": named, "heading": heading, "L": LABELS},
        actor=actor,
    )


@router.get(BASE)
async def my_reports(request: Request, session: DbSession, actor: User_) -> Response:
    return await _list(request, session, actor, await reports.mine(session, actor), "mine")


@router.get("/ops/supervision/reports")
async def triage(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, PLATFORM_SUPERVISION_REPORTS)
    rows = await reports.triage_queue(session, actor)
    return await _list(request, session, actor, rows, "platform")


@router.get("/regulator/reports")
async def jurisdiction(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, REGULATOR_REPORTS_READ)
    rows = await reports.jurisdiction(session, actor)
    return await _list(request, session, actor, rows, "regulator")


async def _new_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    query: str = "",
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "supervision/reports_new.html",
        {
            "merchants": await reports.merchants(session, query),
            "query": query,
            "error": error,
            "values": values or {},
            "L": LABELS,
        },
        status_code=error.status_code if error else 200,
        actor=actor,
    )


@router.get(BASE + "/new")
async def new_report(
    request: Request,
    session: DbSession,
    actor: User_,
    q: Annotated[str, Query(max_length=60)] = "",
) -> Response:
    return await _new_page(request, session, actor, query=q)


@router.post(BASE + "/new")
async def file_report(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}

    async def do() -> Report:
        role = values.get("role", "resident")
        if role not in set(ReporterRole):
            raise ValidationFailed(N_("Check the report."), fields={"role": N_("Not valid.")})
        report = await reports.file_report(
            session,
            actor,
            reports.ReportInput(
                merchant_organisation_id=forms.required_id(
                    values.get("merchant_organisation_id", ""), "merchant_organisation_id"
                ),
                description=values.get("description", ""),
                role=ReporterRole(role),
                order_id=forms.optional_id(values.get("order_id", "")),
                product_name=values.get("product_name") or None,
            ),
        )
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            await _store_photo(request, session, actor, report.id, upload)
        return report

    async def failed(error: DomainError) -> Response:
        return await _new_page(request, session, actor, error=error, values=values)

    done = await form_action(session, do, on_error=failed)
    if isinstance(done, Response):
        return done
    return redirect(f"{BASE}/{done.id}", text=N_("Report sent to the platform."))


async def _store_photo(
    request: Request, session: DbSession, actor: Actor, report_id: int, upload: UploadFile
) -> None:
    await reports.ensure_may_attach(session, actor, report_id)
    data = await files.read_upload(upload)
    stored = await files.store(
        session,
        actor,
        request.app.state.file_store,
        data,
        filename=upload.filename or "photo",
        purpose="report",
        shown_to_others=True,  # the platform and the regulator see it
        allowed=PHOTO_TYPES,
    )
    await reports.add_photo(session, actor, report_id, stored.id)


@router.get(BASE + "/{report_id}")
async def report_page(
    request: Request, report_id: PathId, session: DbSession, actor: User_
) -> Response:
    row = await reports.access_report(session, actor, report_id)
    named = await reports.names(session, {row.merchant_organisation_id})
    ours = actor.acts_for("regulator") and actor.organisation_id == row.regulator_organisation_id
    is_regulator = ours and actor.has(REGULATOR_REPORTS)
    case_id = await reports.case_of(session, row)
    return render(
        request,
        "supervision/reports_detail.html",
        {
            "r": row,
            "merchant": named.get(row.merchant_organisation_id, ""),
            "photos": await reports.photos(session, row),
            "reporter": row.reporter_user_id == actor.user_id
            and row.status == ReportStatus.SUBMITTED,
            "triages": actor.has(PLATFORM_SUPERVISION_REPORTS)
            and row.status == ReportStatus.SUBMITTED,
            "regulates": is_regulator,
            "case_status": (await reports.case_statuses(session, [row.id])).get(row.id),
            # the case itself (its page, notes, inspector) only for the regulator
            "case_id": case_id if ours else None,
            "may_open_case": ours
            and case_id is None
            and actor.has(SUPERVISION_MANAGE)
            and row.status in (ReportStatus.FORWARDED, ReportStatus.ACKNOWLEDGED),
            "L": LABELS,
        },
        actor=actor,
    )


_ACTIONS = ("forward", "close", "acknowledge", "outcome", "photos", "case")


@router.post(BASE + "/{report_id}/{action}")
async def report_action(
    request: Request, report_id: PathId, action: str, session: DbSession, actor: User_
) -> Response:
    if action not in _ACTIONS:
        raise NotFound(N_("Page not found."))
    url = f"{BASE}/{report_id}"
    await reports.access_report(session, actor, report_id)  # 404 for everyone else
    if action == "photos":
        form = await request.form()

        async def attach() -> object:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ValidationFailed(N_("Check the file."), fields={"file": N_("Choose a file.")})
            await _store_photo(request, session, actor, report_id, upload)
            return True

        done = await form_action(session, attach, on_error=flash_error(url))
        if isinstance(done, Response):
            return done
        return redirect(url, text=N_("Photo added."))
    data = await form_data(request)
    if action == "case":

        async def open_case() -> int:
            case = await case_service.open_case(
                session, actor, report_id=report_id, title=data.get("title", "")
            )
            return case.id

        opened = await form_action(session, open_case, on_error=flash_error(url))
        if isinstance(opened, Response):
            return opened
        return redirect(f"/regulator/cases/{opened}", text=N_("Case opened."))
    steps = {
        "forward": lambda: reports.forward(session, actor, report_id),
        "close": lambda: reports.close(session, actor, report_id, data.get("reason", "")),
        "acknowledge": lambda: reports.acknowledge(session, actor, report_id),
        "outcome": lambda: reports.conclude(session, actor, report_id, data.get("outcome", "")),
    }
    done = await form_action(session, steps[action], on_error=flash_error(url))
    if isinstance(done, Response):
        return done
    return redirect(url, text=N_("Saved."))


@router.get(BASE + "/{report_id}/photos/{file_id}")
async def photo(
    request: Request, report_id: PathId, file_id: PathId, session: DbSession, actor: User_
) -> Response:
    row = await reports.access_report(session, actor, report_id)
    await reports.photo_of(session, row, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return file_response(content)

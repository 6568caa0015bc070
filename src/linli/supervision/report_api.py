"""API: reports of suspected violations under /api/v1/supervision/reports
(docs/supervision-reports.md). Which report an actor may see or act on is decided by
`report_policies` (the reporter, the platform's operators, the regulator it was forwarded to;
anyone else gets 404)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import (
    PLATFORM_SUPERVISION_REPORTS,
    REGULATOR_REPORTS_READ,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_
from linli.supervision import reports
from linli.supervision.report_files import PHOTO_TYPES, file_response
from linli.supervision.report_models import Report, ReporterRole
from linli.supervision.report_schemas import (
    OutcomeIn,
    PhotoOut,
    ReasonIn,
    ReportIn,
    ReportOut,
    present_report,
)

router = APIRouter(
    prefix="/api/v1/supervision/reports", tags=["supervision"], responses=ERROR_RESPONSES
)
Reporter = Annotated[Actor, Depends(require_scope("resident", "leader"))]
Party = Annotated[Actor, Depends(require_scope("resident", "leader", "org:read", "platform"))]
Decides = Annotated[Actor, Depends(require_scope("org:write", "platform"))]
Operator = Annotated[Actor, Depends(require(PLATFORM_SUPERVISION_REPORTS))]
RegulatorReader = Annotated[Actor, Depends(require(REGULATOR_REPORTS_READ))]


async def _present(session: DbSession, rows: Sequence[Report]) -> list[ReportOut]:
    named = await reports.names(session, {r.merchant_organisation_id for r in rows})
    cases = await reports.case_statuses(session, [r.id for r in rows])
    return [
        present_report(
            r,
            named.get(r.merchant_organisation_id, ""),
            await reports.photos(session, r),
            cases.get(r.id),
        )
        for r in rows
    ]


async def _one(session: DbSession, row: Report) -> ReportOut:
    return (await _present(session, [row]))[0]


@router.post("", status_code=201, summary="Report a suspected violation by a merchant")
async def file_report(body: ReportIn, session: DbSession, actor: Reporter) -> ReportOut:
    row = await reports.file_report(
        session,
        actor,
        reports.ReportInput(
            merchant_organisation_id=body.merchant_organisation_id,
            description=body.description,
            role=ReporterRole(body.role),
            order_id=body.order_id,
            product_name=body.product_name,
        ),
    )
    return await _one(session, row)


@router.get("/mine", summary="Your reports and their status, newest first")
async def mine(session: DbSession, actor: Reporter) -> list[ReportOut]:
    return await _present(session, await reports.mine(session, actor))


@router.get("/triage", summary="Every report, for the platform's triage (operators)")
async def triage(session: DbSession, actor: Operator) -> list[ReportOut]:
    return await _present(session, await reports.triage_queue(session, actor))


@router.get("/jurisdiction", summary="Reports forwarded to your regulator")
async def jurisdiction(session: DbSession, actor: RegulatorReader) -> list[ReportOut]:
    return await _present(session, await reports.jurisdiction(session, actor))


@router.get("/{report_id}", summary="A report (its reporter, the platform, its regulator)")
async def read_report(report_id: PathId, session: DbSession, actor: Party) -> ReportOut:
    return await _one(session, await reports.access_report(session, actor, report_id))


@router.post("/{report_id}/forward", summary="Forward to the regulator with jurisdiction")
async def forward(report_id: PathId, session: DbSession, actor: Operator) -> ReportOut:
    return await _one(session, await reports.forward(session, actor, report_id))


@router.post("/{report_id}/close", summary="Close a report, with the reasons (the platform)")
async def close(
    report_id: PathId, body: ReasonIn, session: DbSession, actor: Operator
) -> ReportOut:
    return await _one(session, await reports.close(session, actor, report_id, body.reason))


@router.post("/{report_id}/acknowledge", summary="Acknowledge a forwarded report (its regulator)")
async def acknowledge(report_id: PathId, session: DbSession, actor: Decides) -> ReportOut:
    return await _one(session, await reports.acknowledge(session, actor, report_id))


@router.post("/{report_id}/outcome", summary="Record the regulator's outcome")
async def outcome(
    report_id: PathId, body: OutcomeIn, session: DbSession, actor: Decides
) -> ReportOut:
    return await _one(session, await reports.conclude(session, actor, report_id, body.outcome))


@router.post(
    "/{report_id}/photos", status_code=201, summary="Add a photo to your report (multipart)"
)
async def add_photo(
    request: Request,
    report_id: PathId,
    session: DbSession,
    actor: Reporter,
    file: Annotated[UploadFile, File()],
) -> PhotoOut:
    await reports.ensure_may_attach(session, actor, report_id)
    data = await files.read_upload(file)
    stored = await files.store(
        session,
        actor,
        request.app.state.file_store,
        data,
        filename=file.filename or "photo",
        purpose="report",
        shown_to_others=True,  # the platform and the regulator see it: no location metadata
        allowed=PHOTO_TYPES,
    )
    return PhotoOut.model_validate(await reports.add_photo(session, actor, report_id, stored.id))


@router.get(
    "/{report_id}/photos/{file_id}",
    summary="A photo of a report (those who see the report)",
    response_class=Response,
    responses={200: {"description": "The photo", "content": {t: {} for t in PHOTO_TYPES}}},
)
async def photo(
    request: Request, report_id: PathId, file_id: PathId, session: DbSession, actor: Party
) -> Response:
    row = await reports.access_report(session, actor, report_id)
    await reports.photo_of(session, row, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return file_response(content)

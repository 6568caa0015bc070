"""API: double random inspections under /api/v1/supervision/plans (the regulator's own plans;
anyone else gets 404) and the public disclosure of their results under
/api/v1/supervision/disclosure/inspections (docs/supervision-inspections.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.responses import Response

from linli.apitypes import OptionalQueryId, PathId
from linli.authz import (
    SUPERVISION_INSPECT,
    SUPERVISION_PLANS_MANAGE,
    SUPERVISION_PLANS_READ,
    Actor,
    require,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_
from linli.supervision import plans
from linli.supervision.plan_models import InspectionResult, InspectionType
from linli.supervision.plan_schemas import (
    DisclosureOut,
    EvidenceOut,
    PlanDetailOut,
    PlanIn,
    PlanOut,
    ResultIn,
    TargetOut,
    VerificationOut,
    present_disclosure,
    present_plan,
    present_target,
    present_verification,
)
from linli.supervision.report_files import EVIDENCE_TYPES, file_response

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=ERROR_RESPONSES)
Reader = Annotated[Actor, Depends(require(SUPERVISION_PLANS_READ))]
Manager = Annotated[Actor, Depends(require(SUPERVISION_PLANS_MANAGE))]
Inspector = Annotated[Actor, Depends(require(SUPERVISION_INSPECT))]


async def _detail(session: DbSession, actor: Actor, plan_id: int) -> PlanDetailOut:
    plan = await plans.access_plan(session, actor, plan_id)
    return present_plan(plan, await plans.targets(session, plan))


@router.post("/plans", status_code=201, summary="Create an inspection plan (its seed is fixed now)")
async def create_plan(body: PlanIn, session: DbSession, actor: Manager) -> PlanOut:
    plan = await plans.create_plan(
        session,
        actor,
        plans.PlanInput(
            name=body.name,
            inspection_type=InspectionType(body.inspection_type),
            period_start=body.period_start,
            period_end=body.period_end,
            target_count=body.target_count,
        ),
    )
    return PlanOut.model_validate(plan)


@router.get("/plans", summary="Your regulator's inspection plans, newest first")
async def list_plans(session: DbSession, actor: Reader) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await plans.listed(session, actor)]


@router.get("/plans/{plan_id}", summary="A plan with its drawn targets and inspectors")
async def read_plan(plan_id: PathId, session: DbSession, actor: Reader) -> PlanDetailOut:
    return await _detail(session, actor, plan_id)


@router.post("/plans/{plan_id}/draw", summary="Draw targets and inspectors (once, from the seed)")
async def draw(plan_id: PathId, session: DbSession, actor: Manager) -> PlanDetailOut:
    await plans.draw(session, actor, plan_id)
    return await _detail(session, actor, plan_id)


@router.get("/plans/{plan_id}/verify", summary="Recompute the draw from its seed and compare")
async def verify(plan_id: PathId, session: DbSession, actor: Reader) -> VerificationOut:
    return present_verification(await plans.verify(session, actor, plan_id))


@router.post(
    "/targets/{target_id}/result", summary="Record and publish a target's inspection result"
)
async def record_result(
    target_id: PathId, body: ResultIn, session: DbSession, actor: Inspector
) -> TargetOut:
    target = await plans.record_result(
        session,
        actor,
        target_id,
        plans.ResultInput(
            result=InspectionResult(body.result),
            findings=body.findings,
            inspected_on=body.inspected_on,
        ),
    )
    plan = await plans.access_plan(session, actor, target.plan_id)
    row = next(r for r in await plans.targets(session, plan) if r.target.id == target.id)
    return present_target(row)


@router.post(
    "/targets/{target_id}/evidence",
    status_code=201,
    summary="Attach an evidence file (photo or PDF) to an inspection (multipart)",
)
async def add_evidence(
    request: Request,
    target_id: PathId,
    session: DbSession,
    actor: Inspector,
    file: Annotated[UploadFile, File()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> EvidenceOut:
    await plans.ensure_may_add_evidence(session, actor, target_id)
    data = await files.read_upload(file)
    stored = await files.store(
        session,
        actor,
        request.app.state.file_store,
        data,
        filename=file.filename or "evidence",
        purpose="inspection",
        allowed=EVIDENCE_TYPES,
    )
    row = await plans.add_evidence(session, actor, target_id, stored.id, note)
    return EvidenceOut.model_validate(row)


@router.get(
    "/targets/{target_id}/evidence/{file_id}",
    summary="An evidence file (the plan's regulator only)",
    response_class=Response,
    responses={200: {"description": "The file", "content": {t: {} for t in EVIDENCE_TYPES}}},
)
async def evidence(
    request: Request, target_id: PathId, file_id: PathId, session: DbSession, actor: Reader
) -> Response:
    await plans.evidence_of(session, actor, target_id, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return file_response(content)


@router.get(
    "/disclosure/inspections",
    summary="Published random-inspection results (public): authority, merchant, type, date",
)
async def disclosure(
    session: DbSession,
    merchant_id: OptionalQueryId = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[DisclosureOut]:
    rows = await plans.published(session, merchant_id=merchant_id, offset=offset)
    return [present_disclosure(r) for r in rows]

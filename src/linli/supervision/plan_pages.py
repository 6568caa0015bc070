"""Pages: the public disclosure of random-inspection results (/disclosure/inspections) and a
regulator's inspection plans (/regulator/inspections): create a plan, draw it once, check the
draw against its seed, record results with evidence (docs/supervision-inspections.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import (
    SUPERVISION_PLANS_MANAGE,
    SUPERVISION_PLANS_READ,
    Actor,
    current_actor,
    ensure,
    require_user,
)
from linli.db import DbSession
from linli.errors import DomainError, NotFound, ValidationFailed
from linli.files import service as files
from linli.i18n import N_
from linli.supervision import plan_policies as policies
from linli.supervision import plans
from linli.supervision.labels import LABELS
from linli.supervision.plan_models import InspectionResult, InspectionType
from linli.supervision.report_files import EVIDENCE_TYPES, file_response
from linli.web import flash_error, form_action, form_data, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
AnyActor = Annotated[Actor, Depends(current_actor)]
BASE = "/regulator/inspections"


@router.get("/disclosure/inspections")
async def disclosure(
    request: Request,
    session: DbSession,
    actor: AnyActor,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> Response:
    rows = await plans.published(session, limit=50, offset=(page - 1) * 50)
    return render(
        request,
        "supervision/plans_disclosure.html",
        {"rows": rows, "page": page, "L": LABELS},
        actor=actor,
    )


async def _plans_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "supervision/plans_list.html",
        {
            "rows": await plans.listed(session, actor),
            "manages": actor.has(SUPERVISION_PLANS_MANAGE),
            "types": list(InspectionType),
            "error": error,
            "values": values or {},
            "L": LABELS,
        },
        status_code=error.status_code if error else 200,
        actor=actor,
    )


@router.get(BASE)
async def plan_list(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, SUPERVISION_PLANS_READ)
    return await _plans_page(request, session, actor)


@router.post(BASE)
async def create_plan(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, SUPERVISION_PLANS_MANAGE)
    form = await form_data(request)

    async def do() -> object:
        kind = form.get("inspection_type", "")
        if kind not in set(InspectionType):
            raise ValidationFailed(
                N_("Check the inspection plan."),
                fields={"inspection_type": N_("Choose a type of inspection.")},
            )
        count = forms.whole(form.get("target_count", ""))
        if not isinstance(count, int):
            raise ValidationFailed(
                N_("Check the inspection plan."),
                fields={"target_count": N_("Draw between 1 and 500 targets.")},
            )
        return await plans.create_plan(
            session,
            actor,
            plans.PlanInput(
                name=form.get("name", ""),
                inspection_type=InspectionType(kind),
                period_start=forms.calendar_date(form.get("period_start", ""), "period_start"),
                period_end=forms.calendar_date(form.get("period_end", ""), "period_end"),
                target_count=count,
            ),
        )

    async def failed(error: DomainError) -> Response:
        return await _plans_page(request, session, actor, error=error, values=form)

    done = await form_action(session, do, on_error=failed)
    if isinstance(done, Response):
        return done
    return redirect(
        f"{BASE}/{getattr(done, 'id', '')}", text=N_("Plan created; its seed is fixed.")
    )


@router.get(BASE + "/{plan_id}")
async def plan_page(
    request: Request, plan_id: PathId, session: DbSession, actor: User_
) -> Response:
    plan = await plans.access_plan(session, actor, plan_id)
    rows = await plans.targets(session, plan)
    verified = await plans.verify(session, actor, plan_id) if plan.status == "drawn" else None
    return render(
        request,
        "supervision/plans_detail.html",
        {
            "plan": plan,
            "rows": rows,
            "verified": verified,
            "manages": actor.has(SUPERVISION_PLANS_MANAGE),
            "records": {r.target.id for r in rows if policies.may_record(actor, set(r.inspectors))},
            "results": list(InspectionResult),
            "L": LABELS,
        },
        actor=actor,
    )


@router.post(BASE + "/{plan_id}/draw")
async def draw(request: Request, plan_id: PathId, session: DbSession, actor: User_) -> Response:
    url = f"{BASE}/{plan_id}"
    await plans.access_plan(session, actor, plan_id)  # 404 outside the regulator
    done = await form_action(
        session, lambda: plans.draw(session, actor, plan_id), on_error=flash_error(url)
    )
    if isinstance(done, Response):
        return done
    return redirect(url, text=N_("Drawn."))


@router.post(BASE + "/targets/{target_id}/result")
async def record_result(
    request: Request, target_id: PathId, session: DbSession, actor: User_
) -> Response:
    plan_id = await plans.plan_of_target(session, actor, target_id)  # 404 outside the plan
    url = f"{BASE}/{plan_id}"
    form = await request.form()

    async def do() -> object:
        result = str(form.get("result", ""))
        if result not in set(InspectionResult):
            raise ValidationFailed(
                N_("Check the inspection result."), fields={"result": N_("Choose a result.")}
            )
        target = await plans.record_result(
            session,
            actor,
            target_id,
            plans.ResultInput(
                result=InspectionResult(result),
                findings=str(form.get("findings", "")),
                inspected_on=forms.calendar_date(str(form.get("inspected_on", "")), "inspected_on"),
            ),
        )
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            await plans.ensure_may_add_evidence(session, actor, target_id)
            data = await files.read_upload(upload)
            stored = await files.store(
                session,
                actor,
                request.app.state.file_store,
                data,
                filename=upload.filename,
                purpose="inspection",
                allowed=EVIDENCE_TYPES,
            )
            await plans.add_evidence(session, actor, target_id, stored.id, "")
        return target

    done = await form_action(session, do, on_error=flash_error(url))
    if isinstance(done, Response):
        return done
    return redirect(url, text=N_("Result recorded and published."))


@router.get(BASE + "/targets/{target_id}/evidence/{file_id}")
async def evidence(
    request: Request, target_id: PathId, file_id: PathId, session: DbSession, actor: User_
) -> Response:
    await plans.evidence_of(session, actor, target_id, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return file_response(content)

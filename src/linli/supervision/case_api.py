"""JSON routes of supervision under /api/v1/supervision: a regulator's alerts, cases, rules
and emergencies (its jurisdiction only; anything else is 404), and the public declarations
and penalty disclosures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from linli.apitypes import PathId
from linli.authz import (
    SUPERVISION_INSPECT,
    SUPERVISION_MANAGE,
    SUPERVISION_READ,
    SUPERVISION_RULES,
    Actor,
    ensure,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.files import service as files
from linli.supervision import (
    alert_service,
    case_service,
    disclosure_service,
    emergency_service,
    inspectors,
    rule_service,
)
from linli.supervision.case_schemas import (
    AlertOut,
    AssignIn,
    CaseDetailOut,
    CaseIn,
    CaseOut,
    ConflictIn,
    DecisionIn,
    DisclosureOut,
    DismissIn,
    EmergencyIn,
    EmergencyOut,
    EntryOut,
    FulfilIn,
    RuleEditIn,
    RuleOut,
)
from linli.supervision.emergency_models import EmergencyDeclaration

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=ERROR_RESPONSES)
Reader = Annotated[Actor, Depends(require(SUPERVISION_READ))]


async def _worker(actor: Annotated[Actor, Depends(require_scope("org:write"))]) -> Actor:
    """An inspector or a supervisor of a regulator (the service then checks the case)."""
    if not (actor.has(SUPERVISION_INSPECT) or actor.has(SUPERVISION_MANAGE)):
        ensure(actor, SUPERVISION_INSPECT)
    return actor


_worker.access = frozenset({"org:write"})  # type: ignore[attr-defined]
Worker = Annotated[Actor, Depends(_worker)]
Manager = Annotated[Actor, Depends(require(SUPERVISION_MANAGE))]
RuleEditor = Annotated[Actor, Depends(require(SUPERVISION_RULES))]


# --- rules --------------------------------------------------------------------------------


@router.get("/rules", summary="Supervision rule versions in force or scheduled (regulator)")
async def rules(session: DbSession, actor: Reader) -> list[RuleOut]:
    return [RuleOut.from_row(r) for r in await rule_service.visible_rules(session, actor)]


@router.post(
    "/rules/{rule_id}", status_code=201, summary="A new version of a rule for your jurisdiction"
)
async def edit_rule(
    session: DbSession, actor: RuleEditor, rule_id: str, data: RuleEditIn
) -> RuleOut:
    row = await rule_service.edit(
        session,
        actor,
        rule_id,
        params=data.params,
        reason=data.reason,
        effective_from=data.effective_from,
        severity=data.severity,
    )
    return RuleOut.from_row(row)


# --- alerts -------------------------------------------------------------------------------


@router.get("/alerts", summary="The alert queue of your authority")
async def alerts(
    session: DbSession,
    actor: Reader,
    rule_id: Annotated[str | None, Query(max_length=80)] = None,
    severity: Annotated[str | None, Query(pattern="^(low|medium|high)$")] = None,
    older_than_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    status: Annotated[str, Query(pattern="^(open|in_case|dismissed)$")] = "open",
) -> list[AlertOut]:
    rows = await alert_service.queue(
        session,
        actor,
        rule_id=rule_id,
        severity=severity,
        older_than_days=older_than_days,
        status=status,
    )
    return [AlertOut.from_row(r) for r in rows]


@router.get("/alerts/{alert_id}", summary="One alert with its inputs and evidence")
async def alert(session: DbSession, actor: Reader, alert_id: PathId) -> AlertOut:
    return AlertOut.from_row(await alert_service.access(session, actor, alert_id))


@router.post("/alerts/{alert_id}/dismiss", summary="Dismiss an open alert, with a reason")
async def dismiss(
    session: DbSession, actor: Manager, alert_id: PathId, data: DismissIn
) -> AlertOut:
    return AlertOut.from_row(await alert_service.dismiss(session, actor, alert_id, data.reason))


# --- cases --------------------------------------------------------------------------------


async def _detail(session: DbSession, case: object) -> CaseDetailOut:
    from linli.supervision.case_models import Case

    assert isinstance(case, Case)
    entries = [EntryOut.from_row(e) for e in await case_service.timeline(session, case)]
    return CaseDetailOut.from_row(case, timeline=entries)


@router.post("/cases", status_code=201, summary="Open a case (alert, report or merchant)")
async def open_case(session: DbSession, actor: Manager, data: CaseIn) -> CaseDetailOut:
    case = await case_service.open_case(
        session,
        actor,
        alert_id=data.alert_id,
        report_id=data.report_id,
        organisation_id=data.organisation_id,
        title=data.title,
        strategy=data.strategy,
    )
    return await _detail(session, case)


@router.get("/cases", summary="The case board of your authority")
async def cases(
    session: DbSession,
    actor: Reader,
    status: Annotated[
        str | None, Query(pattern="^(investigating|rectifying|overdue|closed)$")
    ] = None,
) -> list[CaseOut]:
    return [CaseOut.from_row(c) for c in await case_service.board(session, actor, status=status)]


@router.get("/cases/{case_id}", summary="One case with its timeline")
async def case(session: DbSession, actor: Reader, case_id: PathId) -> CaseDetailOut:
    return await _detail(session, await case_service.access(session, actor, case_id))


@router.post("/cases/{case_id}/assign", summary="Assign the case to an inspector")
async def assign(
    session: DbSession, actor: Manager, case_id: PathId, data: AssignIn
) -> CaseDetailOut:
    return await _detail(
        session, await case_service.assign(session, actor, case_id, data.inspector_user_id)
    )


@router.post("/cases/{case_id}/entries", status_code=201, summary="A task, finding or note")
async def add_entry(
    request: Request,
    session: DbSession,
    actor: Worker,
    case_id: PathId,
    kind: Annotated[str, Form(max_length=20)],
    text: Annotated[str, Form(max_length=5000)],
    internal: Annotated[bool, Form()] = True,
    file: Annotated[UploadFile | None, File()] = None,
) -> EntryOut:
    data = await files.read_upload(file) if file is not None else None
    entry = await case_service.add_finding(
        session,
        actor,
        case_id,
        kind=kind,
        text=text,
        internal=internal,
        file_store=request.app.state.file_store,
        data=data,
        filename=(file.filename or "") if file is not None else "",
    )
    return EntryOut.from_row(entry)


@router.post("/cases/{case_id}/decision", summary="Decide the case")
async def decide(
    session: DbSession, actor: Manager, case_id: PathId, data: DecisionIn
) -> CaseDetailOut:
    case = await case_service.decide(
        session,
        actor,
        case_id,
        decision=data.decision,
        summary=data.summary,
        legal_basis=data.legal_basis,
        penalty_fen=data.penalty_fen,
        serious=data.serious,
        rectify_by=data.rectify_by,
    )
    return await _detail(session, case)


@router.post("/cases/{case_id}/rectified", summary="Record that the rectification was made")
async def rectified(
    session: DbSession, actor: Manager, case_id: PathId, data: FulfilIn
) -> CaseDetailOut:
    return await _detail(
        session, await case_service.fulfil_rectification(session, actor, case_id, data.note)
    )


@router.post("/conflicts", status_code=201, summary="Declare an inspector's relation to a merchant")
async def declare_conflict(session: DbSession, actor: Manager, data: ConflictIn) -> dict[str, int]:
    row = await inspectors.declare_conflict(
        session,
        actor,
        inspector_user_id=data.inspector_user_id,
        merchant_id=data.merchant_organisation_id,
        reason=data.reason,
    )
    return {"id": row.id}


# --- emergencies and disclosure -------------------------------------------------------------


async def _emergencies(session: DbSession, rows: list[EmergencyDeclaration]) -> list[EmergencyOut]:
    names = await emergency_service.regulator_names(
        session, {r.regulator_organisation_id for r in rows}
    )
    return [
        EmergencyOut.from_row(r, authority=names.get(r.regulator_organisation_id, "")) for r in rows
    ]


@router.post("/emergencies", status_code=201, summary="Declare an emergency (published)")
async def declare(session: DbSession, actor: Manager, data: EmergencyIn) -> EmergencyOut:
    row = await emergency_service.declare(
        session,
        actor,
        title=data.title,
        description=data.description,
        region_code=data.region_code,
        categories=data.categories,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reference_at=data.reference_at,
    )
    return (await _emergencies(session, [row]))[0]


@router.get("/public/emergencies", summary="Emergency declarations (public)")
async def public_emergencies(session: DbSession) -> list[EmergencyOut]:
    return await _emergencies(session, list(await emergency_service.public_list(session)))


@router.get("/public/penalties", summary="Published penalty decisions (public)")
async def public_penalties(session: DbSession) -> list[DisclosureOut]:
    return [DisclosureOut.from_row(d) for d in await disclosure_service.penalties(session)]

"""Pages of the regulator's supervision console (alert queue, case board, case page with its
timeline, emergency declarations, rules) and the public pages (declarations, penalty
disclosures). Every console page is scoped by the services to the acting authority."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import (
    SUPERVISION_MANAGE,
    SUPERVISION_READ,
    SUPERVISION_RULES,
    Actor,
    current_actor,
    require_user,
)
from linli.db import DbSession
from linli.errors import DomainError
from linli.files import service as files
from linli.i18n import N_
from linli.supervision import (
    alert_service,
    case_service,
    disclosure_service,
    emergency_service,
    rule_service,
)
from linli.supervision.alert_models import SEVERITIES
from linli.supervision.case_models import CASE_STATUSES, DECISIONS
from linli.supervision.rule_defaults import BUILT_INS, BY_ID
from linli.web import flash_error, form_action, redirect, render, verify_csrf

STATUS_LABELS = {
    "investigating": N_("investigating"),
    "rectifying": N_("rectifying"),
    "overdue": N_("rectification overdue"),
    "closed": N_("closed"),
    "open": N_("open"),
    "in_case": N_("in a case"),
    "dismissed": N_("dismissed"),
}
DECISION_LABELS = {
    "no_violation": N_("no violation"),
    "warning": N_("warning"),
    "rectify": N_("order to rectify"),
    "penalty": N_("penalty"),
}
SEVERITY_LABELS = {"low": N_("low"), "medium": N_("medium"), "high": N_("high")}
ENTRY_LABELS = {
    "opened": N_("opened"),
    "assigned": N_("assigned"),
    "task": N_("task"),
    "finding": N_("finding"),
    "note": N_("note"),
    "decided": N_("decided"),
    "rectified": N_("rectified"),
    "overdue": N_("deadline passed"),
}
LABELS = {
    "status_labels": STATUS_LABELS,
    "decision_labels": DECISION_LABELS,
    "severity_labels": SEVERITY_LABELS,
    "entry_labels": ENTRY_LABELS,
    "rule_titles": {rule.rule_id: rule.title for rule in BUILT_INS},
}

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
AnyActor = Annotated[Actor, Depends(current_actor)]
ALERTS = "/regulator/alerts"
CASES = "/regulator/cases"
EMERGENCIES = "/regulator/emergencies"
RULES = "/regulator/supervision-rules"


# --- alerts -------------------------------------------------------------------------------


@router.get(ALERTS)
async def alerts_page(
    request: Request,
    session: DbSession,
    actor: User_,
    rule_id: Annotated[str, Query(max_length=80)] = "",
    severity: Annotated[str, Query(max_length=10)] = "",
    older_than_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
) -> Response:
    rows = await alert_service.queue(
        session,
        actor,
        rule_id=rule_id if rule_id in BY_ID else None,
        severity=severity if severity in SEVERITIES else None,
        older_than_days=older_than_days,
    )
    return render(
        request,
        "supervision/alerts.html",
        {
            **LABELS,
            "alerts": rows,
            "rules": BUILT_INS,
            "severities": SEVERITIES,
            "chosen": {"rule_id": rule_id, "severity": severity, "age": older_than_days},
            "may_manage": actor.has(SUPERVISION_MANAGE),
        },
        actor=actor,
    )


@router.post(f"{ALERTS}/{{alert_id}}/case")
async def alert_to_case(
    request: Request, session: DbSession, actor: User_, alert_id: PathId
) -> Response:
    await alert_service.access(session, actor, alert_id, SUPERVISION_MANAGE)
    form = await request.form()

    async def open_case() -> int:
        case = await case_service.open_case(
            session,
            actor,
            alert_id=alert_id,
            title=forms.text(form, "title"),
            strategy=forms.text(form, "strategy") or case_service.LEAST_LOADED,
        )
        return case.id

    done = await form_action(session, open_case, on_error=flash_error(ALERTS))
    if isinstance(done, Response):
        return done
    return redirect(f"{CASES}/{done}", text=N_("Case opened."))


@router.post(f"{ALERTS}/{{alert_id}}/dismiss")
async def alert_dismiss(
    request: Request, session: DbSession, actor: User_, alert_id: PathId
) -> Response:
    await alert_service.access(session, actor, alert_id, SUPERVISION_MANAGE)
    form = await request.form()

    async def dismiss() -> None:
        await alert_service.dismiss(session, actor, alert_id, forms.text(form, "reason"))

    done = await form_action(session, dismiss, on_error=flash_error(ALERTS))
    if isinstance(done, Response):
        return done
    return redirect(ALERTS, text=N_("Alert dismissed."))


# --- cases --------------------------------------------------------------------------------


@router.get(CASES)
async def cases_page(request: Request, session: DbSession, actor: User_) -> Response:
    rows = await case_service.board(session, actor)
    columns = {status: [c for c in rows if c.status == status] for status in CASE_STATUSES}
    return render(request, "supervision/cases.html", {**LABELS, "columns": columns}, actor=actor)


async def _case_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    case_id: int,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    case = await case_service.access(session, actor, case_id, SUPERVISION_READ)
    alert = None
    if case.alert_id is not None:
        alert = await alert_service.access(session, actor, case.alert_id)
    return render(
        request,
        "supervision/case.html",
        {
            **LABELS,
            "case": case,
            "alert": alert,
            "entries": await case_service.timeline(session, case),
            "decisions": DECISIONS,
            "may_manage": actor.has(SUPERVISION_MANAGE),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(f"{CASES}/{{case_id}}")
async def case_page(
    request: Request, session: DbSession, actor: User_, case_id: PathId
) -> Response:
    return await _case_page(request, session, actor, case_id)


def _on_error(request: Request, session: DbSession, actor: Actor, case_id: int) -> Any:
    return lambda error: _case_page(
        request, session, actor, case_id, error=error, status_code=error.status_code
    )


@router.post(f"{CASES}/{{case_id}}/entries")
async def case_entry(
    request: Request, session: DbSession, actor: User_, case_id: PathId
) -> Response:
    case_service.may_work(actor, await case_service.access(session, actor, case_id))
    form = await request.form()
    upload = form.get("file")

    async def add() -> None:
        data = None
        name = ""
        if isinstance(upload, UploadFile) and upload.filename:
            data = await files.read_upload(upload)
            name = upload.filename
        await case_service.add_finding(
            session,
            actor,
            case_id,
            kind=forms.text(form, "kind"),
            text=forms.text(form, "text"),
            internal=not forms.checked(form, "public"),
            file_store=request.app.state.file_store,
            data=data,
            filename=name,
        )

    done = await form_action(session, add, on_error=_on_error(request, session, actor, case_id))
    if isinstance(done, Response):
        return done
    return redirect(f"{CASES}/{case_id}", text=N_("Added to the timeline."))


@router.post(f"{CASES}/{{case_id}}/decision")
async def case_decision(
    request: Request, session: DbSession, actor: User_, case_id: PathId
) -> Response:
    await case_service.access(session, actor, case_id, SUPERVISION_MANAGE)
    form = await request.form()

    async def decide() -> None:
        kind = forms.text(form, "decision")
        raw_deadline = forms.text(form, "rectify_by")
        await case_service.decide(
            session,
            actor,
            case_id,
            decision=kind,
            summary=forms.text(form, "summary"),
            legal_basis=forms.text(form, "legal_basis"),
            penalty_fen=forms.fen(forms.text(form, "penalty"), "penalty_fen")
            if forms.text(form, "penalty").strip()
            else 0,
            serious=forms.checked(form, "serious"),
            rectify_by=forms.local_datetime(raw_deadline, "rectify_by")
            if raw_deadline.strip()
            else None,
        )

    done = await form_action(session, decide, on_error=_on_error(request, session, actor, case_id))
    if isinstance(done, Response):
        return done
    return redirect(f"{CASES}/{case_id}", text=N_("Decision recorded."))


@router.post(f"{CASES}/{{case_id}}/rectified")
async def case_rectified(
    request: Request, session: DbSession, actor: User_, case_id: PathId
) -> Response:
    await case_service.access(session, actor, case_id, SUPERVISION_MANAGE)
    form = await request.form()

    async def fulfil() -> None:
        await case_service.fulfil_rectification(session, actor, case_id, forms.text(form, "note"))

    done = await form_action(session, fulfil, on_error=_on_error(request, session, actor, case_id))
    if isinstance(done, Response):
        return done
    return redirect(f"{CASES}/{case_id}", text=N_("Rectification recorded."))


# --- emergencies --------------------------------------------------------------------------


async def _emergencies_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    alert_service.regulator_of(actor)  # regulators only
    rows = list(await emergency_service.public_list(session))
    own = [r for r in rows if r.regulator_organisation_id == actor.organisation_id]
    return render(
        request,
        "supervision/emergencies_console.html",
        {
            **LABELS,
            "declarations": own,
            "error": error,
            "may_manage": actor.has(SUPERVISION_MANAGE),
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(EMERGENCIES)
async def emergencies_console(request: Request, session: DbSession, actor: User_) -> Response:
    return await _emergencies_page(request, session, actor)


@router.post(EMERGENCIES)
async def emergency_declare(request: Request, session: DbSession, actor: User_) -> Response:
    alert_service.regulator_of(actor, SUPERVISION_MANAGE)
    form = await request.form()

    async def declare() -> None:
        raw_reference = forms.text(form, "reference_at")
        await emergency_service.declare(
            session,
            actor,
            title=forms.text(form, "title"),
            description=forms.text(form, "description"),
            region_code=forms.text(form, "region_code").strip(),
            categories=forms.text(form, "categories").replace(",", " ").split(),
            starts_at=forms.local_datetime(forms.text(form, "starts_at"), "starts_at"),
            ends_at=forms.local_datetime(forms.text(form, "ends_at"), "ends_at"),
            reference_at=forms.local_datetime(raw_reference, "reference_at")
            if raw_reference.strip()
            else None,
        )

    done = await form_action(
        session,
        declare,
        on_error=lambda error: _emergencies_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(done, Response):
        return done
    return redirect(EMERGENCIES, text=N_("Emergency declared and published."))


# --- rules --------------------------------------------------------------------------------


async def _rules_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    versions = await rule_service.visible_rules(session, actor)
    by_rule = {
        rule.rule_id: [v for v in versions if v.rule_id == rule.rule_id] for rule in BUILT_INS
    }
    current = await rule_service.params_in_force(session, actor)
    return render(
        request,
        "supervision/rules.html",
        {
            **LABELS,
            "rules": BUILT_INS,
            "versions": by_rule,
            "current": current,
            "may_edit": actor.has(SUPERVISION_RULES),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(RULES)
async def rules_page(request: Request, session: DbSession, actor: User_) -> Response:
    return await _rules_page(request, session, actor)


def _number(raw: str) -> float | str:
    try:
        return float(raw.strip())
    except ValueError:
        return raw


def _codes(raw: str) -> list[str]:
    """A list parameter as typed: codes separated by commas (either width) or spaces."""
    return [code for code in re.split(r"[,，、\s]+", raw) if code]


@router.post(f"{RULES}/{{rule_id}}")
async def rule_edit(request: Request, session: DbSession, actor: User_, rule_id: str) -> Response:
    alert_service.regulator_of(actor, SUPERVISION_RULES)
    form = await request.form()

    async def edit() -> None:
        spec = BY_ID[rule_id].spec if rule_id in BY_ID else {}
        params: dict[str, Any] = {
            name: _number(forms.text(form, name))
            for name, param in spec.items()
            if not param.is_list and forms.text(form, name).strip()
        }
        # A list field is shown filled with the list in force: what is sent is the new list.
        params |= {
            name: _codes(forms.text(form, name))
            for name, param in spec.items()
            if param.is_list and name in form
        }
        raw_from = forms.text(form, "effective_from")
        await rule_service.edit(
            session,
            actor,
            rule_id,
            params=params,
            reason=forms.text(form, "reason"),
            effective_from=forms.local_datetime(raw_from, "effective_from")
            if raw_from.strip()
            else None,
        )

    done = await form_action(
        session,
        edit,
        on_error=lambda error: _rules_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(done, Response):
        return done
    return redirect(RULES, text=N_("New rule version saved."))


# --- public -------------------------------------------------------------------------------


@router.get("/supervision/emergencies")
async def public_emergencies(request: Request, session: DbSession, actor: AnyActor) -> Response:
    rows = list(await emergency_service.public_list(session))
    names = await emergency_service.regulator_names(
        session, {r.regulator_organisation_id for r in rows}
    )
    return render(
        request,
        "supervision/emergencies.html",
        {**LABELS, "declarations": rows, "names": names},
        actor=actor,
    )


@router.get("/supervision/emergencies/{declaration_id}")
async def public_emergency(
    request: Request, session: DbSession, actor: AnyActor, declaration_id: PathId
) -> Response:
    row = await emergency_service.public_one(session, declaration_id)
    names = await emergency_service.regulator_names(session, {row.regulator_organisation_id})
    return render(
        request,
        "supervision/emergencies.html",
        {**LABELS, "declarations": [row], "names": names},
        actor=actor,
    )


@router.get("/supervision/penalties")
async def public_penalties(request: Request, session: DbSession, actor: AnyActor) -> Response:
    rows = await disclosure_service.penalties(session)
    return render(request, "supervision/penalties.html", {**LABELS, "penalties": rows}, actor=actor)

"""Cases: an alert (or a report) becomes a case of the authority, assigned to an inspector
(least loaded, or round robin), worked through tasks and findings with evidence files, and
decided: no violation, warning, an order to rectify by a deadline, or a penalty with its
amount and legal basis. Every step is on the timeline and in the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import SUPERVISION_INSPECT, SUPERVISION_MANAGE, SUPERVISION_READ, Actor, ensure
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import CaseDecided, CaseOpened, RectificationFulfilled, RectificationOverdue
from linli.files import service as files
from linli.files.service import FileStore
from linli.i18n import N_, Message
from linli.jobs import RectificationDue
from linli.supervision import alert_service, inspectors, reports
from linli.supervision.alert_models import OPEN as ALERT_OPEN
from linli.supervision.alert_service import regulator_of
from linli.supervision.case_models import (
    CLOSED,
    DECISIONS,
    INVESTIGATING,
    NO_VIOLATION,
    OVERDUE,
    PENALTY,
    RECTIFY,
    RECTIFYING,
    Case,
    CaseEntry,
)
from linli.supervision.report_models import ReportStatus

LEAST_LOADED = "least_loaded"
ROUND_ROBIN = "round_robin"
STRATEGIES = (LEAST_LOADED, ROUND_ROBIN)
MAX_PENALTY_FEN = 3_000_000 * 100 * 5  # far above any statutory maximum: a typo guard
EVIDENCE_TYPES = files.DOCUMENT_TYPES | files.IMAGE_TYPES


def _entry(
    session: AsyncSession,
    case: Case,
    kind: str,
    actor: Actor,
    text: str = "",
    *,
    internal: bool = True,
    file_id: int | None = None,
    assignee_user_id: int | None = None,
) -> CaseEntry:
    row = CaseEntry(
        case_id=case.id,
        assignee_user_id=assignee_user_id,
        kind=kind,
        text=text,
        internal=internal,
        file_id=file_id,
        user_id=actor.user_id,
        at=clock.now(),
    )
    session.add(row)
    return row


def _audit(session: AsyncSession, actor: Actor, action: str, case: Case, **details: Any) -> None:
    audit.record(
        session,
        actor,
        f"supervision.{action}",
        target_type="supervision_case",
        target_id=case.id,
        merchant_organisation_id=case.organisation_id,
        **details,
    )


async def _pick_inspector(
    session: AsyncSession, regulator_id: int, merchant_id: int, strategy: str
) -> int | None:
    candidates = await inspectors.eligible(session, regulator_id, merchant_id)
    if not candidates:
        return None
    if strategy == ROUND_ROBIN:
        last = await session.scalar(
            select(Case.inspector_user_id)
            .where(
                Case.regulator_organisation_id == regulator_id,
                Case.inspector_user_id.in_(candidates),
            )
            .order_by(Case.id.desc())
            .limit(1)
        )
        if last is None:
            return candidates[0]
        later = [uid for uid in candidates if uid > last]
        return later[0] if later else candidates[0]
    load = await inspectors.open_load(session, candidates)
    return min(candidates, key=lambda uid: (load[uid], uid))


async def open_case(
    session: AsyncSession,
    actor: Actor,
    *,
    alert_id: int | None = None,
    report_id: int | None = None,
    organisation_id: int | None = None,
    title: str,
    strategy: str = LEAST_LOADED,
) -> Case:
    """A case from an open alert of the authority, from a report forwarded to it (one case per
    report: 409 `report_in_case` for a second; a forwarded report is acknowledged by it), or
    about a merchant in its jurisdiction."""
    regulator_id = regulator_of(actor, SUPERVISION_MANAGE)
    if strategy not in STRATEGIES:
        raise ValidationFailed(N_("Unknown assignment."), fields={"strategy": N_("Unknown.")})
    if not title.strip():
        raise ValidationFailed(N_("Give the case a title."), fields={"title": N_("Required.")})
    alert = None
    if alert_id is not None:
        alert = await alert_service.access(session, actor, alert_id, SUPERVISION_MANAGE)
        if alert.status != ALERT_OPEN:
            raise Conflict(N_("This alert is no longer open."))
        merchant_id = alert.organisation_id
    elif report_id is not None:
        report = await reports.forwarded_to_actor(session, actor, report_id)
        existing = await reports.case_of(session, report)
        if existing is not None:
            raise Conflict(
                N_("A case was opened from this report already."),
                code="report_in_case",
                case_id=existing,
            )
        if report.status == ReportStatus.FORWARDED:
            await reports.acknowledge(session, actor, report.id)
        merchant_id = report.merchant_organisation_id
    elif organisation_id is not None:
        from linli.protection.complaint_policies import covering_regulator

        merchant = await session.get(Organisation, organisation_id)
        if (
            merchant is None
            or merchant.kind not in ("merchant", "supplier")
            or await covering_regulator(session, organisation_id) != regulator_id
        ):
            raise NotFound(N_("No such merchant in your jurisdiction."))
        merchant_id = organisation_id
    else:
        raise ValidationFailed(
            N_("Name the alert or the merchant."), fields={"alert_id": N_("Required.")}
        )
    case = Case(
        regulator_organisation_id=regulator_id,
        organisation_id=merchant_id,
        alert_id=alert.id if alert else None,
        report_id=report_id if alert is None else None,
        source="alert" if alert else "report",
        title=title.strip()[:200],
        status=INVESTIGATING,
        opened_by_user_id=actor.user_id,
        opened_at=clock.now(),
        serious=False,
    )
    session.add(case)
    await session.flush()
    if alert is not None:
        alert_service.mark_in_case(alert, case.id)
    _entry(session, case, "opened", actor, case.title)
    inspector = await _pick_inspector(session, regulator_id, merchant_id, strategy)
    if inspector is not None:
        case.inspector_user_id = inspector
        _entry(
            session,
            case,
            "assigned",
            actor,
            f"user:{inspector} ({strategy})",
            assignee_user_id=inspector,
        )
    _audit(
        session,
        actor,
        "case_opened",
        case,
        alert_id=case.alert_id,
        report_id=case.report_id,
        inspector=inspector,
    )
    outbox.publish(
        session,
        CaseOpened(
            case_id=case.id,
            organisation_id=merchant_id,
            regulator_organisation_id=regulator_id,
            alert_id=case.alert_id,
        ),
    )
    await session.flush()
    return case


async def access(
    session: AsyncSession, actor: Actor, case_id: int, permission: object = SUPERVISION_READ
) -> Case:
    """The case if it is the acting authority's; 404 otherwise."""
    regulator_id = regulator_of(actor, permission)
    case = await session.get(Case, case_id)
    if case is None or case.regulator_organisation_id != regulator_id:
        raise NotFound(N_("No such case."))
    await session.flush()
    return case


async def board(
    session: AsyncSession, actor: Actor, *, status: str | None = None
) -> Sequence[Case]:
    regulator_id = regulator_of(actor)
    query = select(Case).where(Case.regulator_organisation_id == regulator_id)
    if status:
        query = query.where(Case.status == status)
    return (await session.scalars(query.order_by(Case.id.desc()).limit(500))).all()


async def timeline(session: AsyncSession, case: Case) -> Sequence[CaseEntry]:
    return (
        await session.scalars(
            select(CaseEntry).where(CaseEntry.case_id == case.id).order_by(CaseEntry.id)
        )
    ).all()


async def assign(session: AsyncSession, actor: Actor, case_id: int, inspector_user_id: int) -> Case:
    case = await access(session, actor, case_id, SUPERVISION_MANAGE)
    if case.status == CLOSED:
        raise Conflict(N_("This case is closed."))
    allowed = await inspectors.eligible(
        session, case.regulator_organisation_id, case.organisation_id
    )
    if inspector_user_id not in allowed:
        raise ValidationFailed(
            N_("Not an eligible inspector for this merchant."),
            fields={"inspector_user_id": N_("Not eligible.")},
        )
    case.inspector_user_id = inspector_user_id
    _entry(
        session,
        case,
        "assigned",
        actor,
        f"user:{inspector_user_id}",
        assignee_user_id=inspector_user_id,
    )
    _audit(session, actor, "case_assigned", case, inspector=inspector_user_id)
    await session.flush()
    return case


def may_work(actor: Actor, case: Case) -> None:
    """The assigned inspector works the case; a supervisor (manage) may too."""
    if actor.has(SUPERVISION_MANAGE):
        return
    ensure(actor, SUPERVISION_INSPECT)
    if actor.user_id is None or actor.user_id != case.inspector_user_id:
        raise Forbidden(N_("Only the assigned inspector works this case."))


async def add_finding(
    session: AsyncSession,
    actor: Actor,
    case_id: int,
    *,
    kind: str,
    text: str,
    internal: bool = True,
    file_store: FileStore | None = None,
    data: bytes | None = None,
    filename: str = "",
) -> CaseEntry:
    """A task or finding on the timeline, with an evidence file through the upload checks."""
    case = await access(session, actor, case_id)
    may_work(actor, case)
    if case.status == CLOSED:
        raise Conflict(N_("This case is closed."))
    if kind not in ("task", "finding", "note"):
        raise ValidationFailed(N_("Unknown entry."), fields={"kind": N_("Unknown.")})
    text = text.strip()
    if not text:
        raise ValidationFailed(N_("Write something."), fields={"text": N_("Required.")})
    file_id = None
    if data is not None:
        assert file_store is not None
        stored = await files.store(
            session,
            actor,
            file_store,
            data,
            filename=filename,
            purpose="supervision_evidence",
            allowed=EVIDENCE_TYPES,
        )
        file_id = stored.id
    entry = _entry(session, case, kind, actor, text[:5000], internal=internal, file_id=file_id)
    await session.flush()
    _audit(session, actor, "case_entry", case, kind=kind, entry_id=entry.id, file_id=file_id)
    return entry


async def decide(
    session: AsyncSession,
    actor: Actor,
    case_id: int,
    *,
    decision: str,
    summary: str,
    legal_basis: str = "",
    penalty_fen: int = 0,
    serious: bool = False,
    rectify_by: datetime | None = None,
) -> Case:
    case = await access(session, actor, case_id, SUPERVISION_MANAGE)
    if case.decision is not None:
        raise Conflict(N_("This case is already decided."))
    problems: dict[str, str | Message] = {}
    if decision not in DECISIONS:
        problems["decision"] = N_("Unknown decision.")
    legal_basis = legal_basis.strip()
    summary = summary.strip()
    if not summary:
        problems["summary"] = N_("Required.")
    if decision != NO_VIOLATION and not legal_basis:
        problems["legal_basis"] = N_("Required.")
    if decision == PENALTY:
        if not 0 < penalty_fen <= MAX_PENALTY_FEN:
            problems["penalty_fen"] = N_("A positive amount.")
    elif penalty_fen:
        problems["penalty_fen"] = N_("Only a penalty has an amount.")
    if decision == RECTIFY:
        if rectify_by is None or rectify_by <= clock.now():
            problems["rectify_by"] = N_("A deadline in the future.")
    elif rectify_by is not None:
        problems["rectify_by"] = N_("Only an order to rectify has a deadline.")
    if serious and decision != PENALTY:
        problems["serious"] = N_("Only a penalty is serious.")
    if problems:
        raise ValidationFailed(N_("The decision is not complete."), fields=problems)
    now = clock.now()
    case.decision = decision
    case.decision_summary = summary[:5000]
    case.legal_basis = legal_basis[:500] or None
    case.penalty_fen = penalty_fen if decision == PENALTY else None
    case.serious = serious
    case.rectify_by = rectify_by
    case.decided_at = now
    case.decided_by_user_id = actor.user_id
    if decision == RECTIFY:
        assert rectify_by is not None
        case.status = RECTIFYING
        await outbox.schedule(
            session,
            RectificationDue(case_id=case.id, rectify_by=rectify_by.isoformat()),
            rectify_by,
        )
    else:
        case.status = CLOSED
        case.closed_at = now
    _entry(session, case, "decided", actor, f"{decision}: {case.decision_summary}", internal=False)
    _audit(
        session,
        actor,
        "case_decided",
        case,
        decision=decision,
        penalty_fen=case.penalty_fen,
        serious=serious,
        legal_basis=case.legal_basis,
        rectify_by=rectify_by.isoformat() if rectify_by else None,
    )
    outbox.publish(
        session,
        CaseDecided(
            case_id=case.id,
            organisation_id=case.organisation_id,
            regulator_organisation_id=case.regulator_organisation_id,
            decision=decision,
            penalty_fen=case.penalty_fen or 0,
            serious=serious,
            legal_basis=case.legal_basis or "",
            rectify_by=rectify_by,
            decided_at=now,
        ),
    )
    await session.flush()
    return case


async def fulfil_rectification(
    session: AsyncSession, actor: Actor, case_id: int, note: str
) -> Case:
    case = await access(session, actor, case_id, SUPERVISION_MANAGE)
    if case.status not in (RECTIFYING, OVERDUE):
        raise Conflict(N_("Nothing to rectify on this case."))
    if not note.strip():
        raise ValidationFailed(N_("Say what was checked."), fields={"note": N_("Required.")})
    now = clock.now()
    on_time = case.status == RECTIFYING and case.rectify_by is not None and now <= case.rectify_by
    case.status = CLOSED
    case.closed_at = now
    _entry(session, case, "rectified", actor, note.strip()[:5000])
    _audit(session, actor, "rectification_fulfilled", case, on_time=on_time)
    outbox.publish(
        session,
        RectificationFulfilled(
            case_id=case.id,
            organisation_id=case.organisation_id,
            regulator_organisation_id=case.regulator_organisation_id,
            fulfilled_at=now,
            on_time=on_time,
        ),
    )
    await session.flush()
    return case


async def rectification_due(session: AsyncSession, case_id: int, rectify_by: str) -> None:
    """The due job: flag the case overdue when still rectifying at its deadline."""
    case = await session.get(Case, case_id)
    if case is None or case.status != RECTIFYING or case.rectify_by is None:
        return
    if case.rectify_by.isoformat() != rectify_by or clock.now() < case.rectify_by:
        return
    case.status = OVERDUE
    system = Actor.for_system()
    _entry(session, case, "overdue", system, case.rectify_by.isoformat())
    _audit(session, system, "rectification_overdue", case)
    outbox.publish(
        session,
        RectificationOverdue(
            case_id=case.id,
            organisation_id=case.organisation_id,
            regulator_organisation_id=case.regulator_organisation_id,
            rectify_by=case.rectify_by,
        ),
    )


async def open_case_counts(session: AsyncSession, regulator_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(Case.status, func.count(Case.id))
        .where(Case.regulator_organisation_id == regulator_id)
        .group_by(Case.status)
    )
    return {str(s): int(n) for s, n in rows.all()}

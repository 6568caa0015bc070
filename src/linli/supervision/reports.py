"""Reports of suspected violations (multi-party governance, docs/supervision-reports.md):
filed by a resident or a group leader, triaged by the platform (forwarded to the regulator
whose jurisdiction covers the merchant, or closed with reasons), acknowledged and concluded by
that regulator.

Every transition loads the report locked, checks the status it starts from (409 with the
current status otherwise, nothing changed), publishes the event the parties are told by, and
records an audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import PLATFORM_SUPERVISION_REPORTS, REGULATOR_REPORTS, Actor, ensure
from linli.community import points
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import (
    ReportAcknowledged,
    ReportClosed,
    ReportConcluded,
    ReportFiled,
    ReportForwarded,
)
from linli.groupbuy import lines as groupbuy
from linli.i18n import N_
from linli.protection.complaint_policies import covering_regulator
from linli.supervision import report_policies as policies
from linli.supervision.case_models import Case
from linli.supervision.report_models import Report, ReporterRole, ReportPhoto, ReportStatus

MAX_TEXT = 2000
MAX_PHOTOS = 6
MERCHANT = "merchant"


def report_not_found() -> NotFound:
    return NotFound(N_("No such report."), code="report_not_found")


def _check(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(N_("Check the report."), fields={field: message})


def _text(value: str, field: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise _check(field, N_("Enter 1 to 2000 characters."))
    return text


def _conflict(report: Report, message: str) -> Conflict:
    return Conflict(message, code="report_status", current=report.status)


def _facts(report: Report) -> dict[str, object]:
    return {
        "report_id": report.id,
        "reporter_user_id": report.reporter_user_id,
        "merchant_organisation_id": report.merchant_organisation_id,
        "regulator_organisation_id": report.regulator_organisation_id,
        "status": report.status,
    }


# --- reading --------------------------------------------------------------------------------


async def access_report(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    """The report if the actor may see it; 404 for missing and forbidden alike."""
    row = await session.scalar(
        select(Report).where(Report.id == report_id, policies.visible(actor))
    )
    if row is None:
        raise report_not_found()
    return row


async def _locked(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    row = await session.scalar(
        select(Report)
        .where(Report.id == report_id, policies.visible(actor))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise report_not_found()
    return row


async def mine(session: AsyncSession, actor: Actor) -> Sequence[Report]:
    return (
        await session.scalars(
            select(Report).where(policies.as_reporter(actor)).order_by(Report.id.desc()).limit(200)
        )
    ).all()


async def triage_queue(
    session: AsyncSession, actor: Actor, *, open_only: bool = False
) -> Sequence[Report]:
    query = select(Report).where(policies.as_platform(actor))
    if open_only:
        query = query.where(Report.status == ReportStatus.SUBMITTED)
    return (await session.scalars(query.order_by(Report.id.desc()).limit(200))).all()


async def jurisdiction(session: AsyncSession, actor: Actor) -> Sequence[Report]:
    return (
        await session.scalars(
            select(Report).where(policies.as_regulator(actor)).order_by(Report.id.desc()).limit(200)
        )
    ).all()


async def case_statuses(session: AsyncSession, report_ids: Sequence[int]) -> dict[int, str]:
    """The status of the case opened from each report (only the status: a reporter never
    sees the case itself, its notes or its inspector)."""
    if not report_ids:
        return {}
    rows = await session.execute(
        select(Case.report_id, Case.status).where(Case.report_id.in_(list(report_ids)))
    )
    return {int(r): str(status) for r, status in rows.all() if r is not None}


async def case_of(session: AsyncSession, report: Report) -> int | None:
    found = await session.scalar(select(Case.id).where(Case.report_id == report.id))
    return int(found) if found is not None else None


async def forwarded_to_actor(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    """The report, locked, if it was forwarded to the regulator the actor acts for (a case is
    opened from it); 404 otherwise, another authority included."""
    report = await _locked(session, actor, report_id)
    if not (
        actor.acts_for(policies.REGULATOR)
        and actor.organisation_id == report.regulator_organisation_id
        and report.status in policies.FORWARDED_OR_LATER
    ):
        raise report_not_found()
    return report


async def photos(session: AsyncSession, report: Report) -> list[int]:
    return [
        int(f)
        for f in await session.scalars(
            select(ReportPhoto.file_id)
            .where(ReportPhoto.report_id == report.id)
            .order_by(ReportPhoto.id)
        )
    ]


async def photo_of(session: AsyncSession, report: Report, file_id: int) -> int:
    found = await session.scalar(
        select(ReportPhoto.file_id).where(
            ReportPhoto.report_id == report.id, ReportPhoto.file_id == file_id
        )
    )
    if found is None:
        raise NotFound(N_("No such file."))
    return int(found)


async def names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    )
    return {int(i): str(n) for i, n in rows.all()}


async def merchants(session: AsyncSession, query: str = "") -> list[tuple[int, str]]:
    """Merchants a reporter may name (the whole platform's directory), by name."""
    statement = select(Organisation.id, Organisation.name).where(Organisation.kind == MERCHANT)
    if query.strip():
        statement = statement.where(Organisation.name.contains(query.strip()[:60], autoescape=True))
    rows = await session.execute(statement.order_by(Organisation.name).limit(100))
    return [(int(i), str(n)) for i, n in rows.all()]


# --- filing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportInput:
    merchant_organisation_id: int
    description: str
    role: ReporterRole
    order_id: int | None = None
    product_name: str | None = None


async def file_report(session: AsyncSession, actor: Actor, data: ReportInput) -> Report:
    """A resident's or a group leader's report about a merchant (optionally naming one of
    their own orders from it, or a product)."""
    user_id = actor.require_user_id()
    if not actor.has_scope(data.role):
        raise Forbidden(N_("This token lacks the {scope} scope."), scope=data.role)
    if data.role == ReporterRole.LEADER and not await points.points_led_by(session, user_id):
        raise _check("role", N_("You do not run a pickup point."))
    description = _text(data.description, "description")
    merchant = await session.get(Organisation, data.merchant_organisation_id)
    if merchant is None or merchant.kind != MERCHANT:
        raise _check("merchant_organisation_id", N_("Choose a merchant on the platform."))
    if data.order_id is not None:
        order = await groupbuy.order_of_resident(session, user_id, data.order_id)
        if order is None or order.organisation_id != merchant.id:
            raise _check("order_id", N_("Choose one of your orders from this merchant."))
    product = (data.product_name or "").strip() or None
    if product is not None and len(product) > 120:
        raise _check("product_name", N_("Enter at most 120 characters."))
    now = clock.now()
    report = Report(
        reporter_user_id=user_id,
        reporter_role=data.role,
        merchant_organisation_id=merchant.id,
        order_id=data.order_id,
        product_name=product,
        description=description,
        status=ReportStatus.SUBMITTED,
        created_at=now,
    )
    session.add(report)
    await session.flush()
    outbox.publish(session, ReportFiled(**_facts(report)))
    audit.record(
        session,
        actor,
        "supervision.report_filed",
        target_type="supervision_report",
        target_id=report.id,
        merchant_organisation_id=merchant.id,
        role=data.role,
    )
    await session.flush()
    return report


async def ensure_may_attach(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    """Photos are added by the reporter while the report waits for triage, up to 6."""
    report = await access_report(session, actor, report_id)
    if report.reporter_user_id != actor.user_id:
        raise Forbidden(N_("Only the reporter adds photos to a report."), code="not_reporter")
    if report.status != ReportStatus.SUBMITTED:
        raise _conflict(report, N_("Photos can be added until the platform triages the report."))
    count = await session.scalar(
        select(func.count()).select_from(ReportPhoto).where(ReportPhoto.report_id == report.id)
    )
    if int(count or 0) >= MAX_PHOTOS:
        raise Conflict(N_("At most 6 photos per report."), code="photos_full")
    return report


async def add_photo(
    session: AsyncSession, actor: Actor, report_id: int, file_id: int
) -> ReportPhoto:
    report = await ensure_may_attach(session, actor, report_id)
    row = ReportPhoto(report_id=report.id, file_id=file_id, added_at=clock.now())
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "supervision.report_photo_added",
        target_type="supervision_report",
        target_id=report.id,
        file_id=file_id,
    )
    return row


# --- the platform's triage ----------------------------------------------------------------------


async def _as_platform(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    report = await _locked(session, actor, report_id)
    ensure(actor, PLATFORM_SUPERVISION_REPORTS)
    if actor.system:
        raise Forbidden(N_("You do not have permission to do this."))
    if report.status != ReportStatus.SUBMITTED:
        raise _conflict(report, N_("This report was triaged already."))
    return report


async def forward(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    """Forward to the regulator whose jurisdiction covers the merchant (its district, else
    its city, else its province)."""
    report = await _as_platform(session, actor, report_id)
    regulator_id = await covering_regulator(session, report.merchant_organisation_id)
    if regulator_id is None:
        raise ValidationFailed(
            N_("No regulator on the platform covers this merchant's region yet."),
            code="no_regulator",
        )
    now = clock.now()
    report.status = ReportStatus.FORWARDED
    report.regulator_organisation_id = regulator_id
    report.triaged_at = now
    report.triaged_by_user_id = actor.user_id
    outbox.publish(session, ReportForwarded(**_facts(report)))
    audit.record(
        session,
        actor,
        "supervision.report_forwarded",
        target_type="supervision_report",
        target_id=report.id,
        regulator_organisation_id=regulator_id,
    )
    await session.flush()
    return report


async def close(session: AsyncSession, actor: Actor, report_id: int, reason: str) -> Report:
    report = await _as_platform(session, actor, report_id)
    text = _text(reason, "reason")
    report.status = ReportStatus.CLOSED
    report.close_reason = text
    report.triaged_at = clock.now()
    report.triaged_by_user_id = actor.user_id
    outbox.publish(session, ReportClosed(**_facts(report), reason=text))
    audit.record(
        session,
        actor,
        "supervision.report_closed",
        target_type="supervision_report",
        target_id=report.id,
        reason=text,
    )
    await session.flush()
    return report


# --- the regulator ----------------------------------------------------------------------------


async def _as_regulator(
    session: AsyncSession, actor: Actor, report_id: int, expected: ReportStatus, message: str
) -> Report:
    report = await _locked(session, actor, report_id)
    if not (
        actor.acts_for(policies.REGULATOR)
        and actor.organisation_id == report.regulator_organisation_id
    ):
        raise report_not_found()
    ensure(actor, REGULATOR_REPORTS)
    if report.status != expected:
        raise _conflict(report, message)
    return report


async def acknowledge(session: AsyncSession, actor: Actor, report_id: int) -> Report:
    report = await _as_regulator(
        session,
        actor,
        report_id,
        ReportStatus.FORWARDED,
        N_("Only a forwarded report can be acknowledged."),
    )
    report.status = ReportStatus.ACKNOWLEDGED
    report.acknowledged_at = clock.now()
    outbox.publish(session, ReportAcknowledged(**_facts(report)))
    audit.record(
        session,
        actor,
        "supervision.report_acknowledged",
        target_type="supervision_report",
        target_id=report.id,
    )
    await session.flush()
    return report


async def conclude(session: AsyncSession, actor: Actor, report_id: int, outcome: str) -> Report:
    report = await _as_regulator(
        session,
        actor,
        report_id,
        ReportStatus.ACKNOWLEDGED,
        N_("Acknowledge the report before recording its outcome."),
    )
    text = _text(outcome, "outcome")
    report.status = ReportStatus.CONCLUDED
    report.outcome = text
    report.concluded_at = clock.now()
    report.concluded_by_user_id = actor.user_id
    outbox.publish(session, ReportConcluded(**_facts(report)))
    audit.record(
        session,
        actor,
        "supervision.report_concluded",
        target_type="supervision_report",
        target_id=report.id,
    )
    await session.flush()
    return report

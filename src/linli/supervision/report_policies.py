"""Who sees and acts on reports of suspected violations: the reporter (their own, in the
capacity they reported in), the platform's operators (triage, every report), and the
regulator a report was forwarded to. Merchants never see reports about them (a report may be
anonymous to them; the regulator's case is what they get to answer).
Everyone else gets 404."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_

from linli.authz import PLATFORM_SUPERVISION_REPORTS, REGULATOR_REPORTS_READ, Actor
from linli.supervision.report_models import Report, ReportStatus

REGULATOR = "regulator"
FORWARDED_OR_LATER = (ReportStatus.FORWARDED, ReportStatus.ACKNOWLEDGED, ReportStatus.CONCLUDED)


def as_reporter(actor: Actor) -> ColumnElement[bool]:
    if actor.user_id is None:
        return false()
    roles = [r for r in ("resident", "leader") if actor.has_scope(r)]
    if not roles:
        return false()
    return and_(Report.reporter_user_id == actor.user_id, Report.reporter_role.in_(roles))


def as_platform(actor: Actor) -> ColumnElement[bool]:
    if actor.system or not actor.has(PLATFORM_SUPERVISION_REPORTS):
        return false()
    return Report.id.is_not(None)


def as_regulator(actor: Actor) -> ColumnElement[bool]:
    if not actor.acts_for(REGULATOR) or not actor.has(REGULATOR_REPORTS_READ):
        return false()
    return and_(
        Report.regulator_organisation_id == actor.organisation_id,
        Report.status.in_(FORWARDED_OR_LATER),
    )


def visible(actor: Actor) -> ColumnElement[bool]:
    return or_(as_reporter(actor), as_platform(actor), as_regulator(actor))

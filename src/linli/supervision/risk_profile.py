"""A merchant's risk profile for the regulator with jurisdiction (issue 13 "Risk assessment"),
explained factor by factor: credit's risk class (by score, then the high-risk category step),
the alerts per rule in a window, and the authority's case history. Each factor states what it
read and its contribution in points (rule `supervision.risk_profile`); the total gives a level.

Regulator-only like the class it starts from: computed when asked, never stored, published or
put in an event. Anyone but the covering regulator gets 404 (docs/supervision.md "Risk
profile")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.authz import SUPERVISION_READ, Actor
from linli.credit import risk as credit_risk
from linli.errors import NotFound
from linli.i18n import N_
from linli.protection.complaint_policies import covering_regulator
from linli.rules import service as rules
from linli.supervision import alert_service
from linli.supervision.alert_models import OPEN, Alert
from linli.supervision.case_models import CLOSED, OVERDUE, PENALTY, Case

RULE = "supervision.risk_profile"
SEVERITY_ORDER = ("low", "medium", "high")


@dataclass(frozen=True)
class Factor:
    """One reason: `kind` (credit_class, category, alerts, cases), what it is about (a rule
    id, a decision), the figures read, and the points it adds."""

    kind: str
    subject: str
    points: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RiskProfile:
    merchant_organisation_id: int
    merchant_name: str
    credit: credit_risk.RiskExplanation
    factors: list[Factor]
    total: int
    level: str
    rule_id: str
    rule_version: int
    computed_at: datetime


def not_found() -> NotFound:
    return NotFound(N_("No such merchant in your jurisdiction."), code="merchant_not_found")


async def _merchant(session: AsyncSession, actor: Actor, merchant_id: int) -> Organisation:
    """The merchant if the actor's authority covers it; 404 for everything else."""
    regulator_id = alert_service.regulator_of(actor, SUPERVISION_READ)
    merchant = await session.get(Organisation, merchant_id)
    if (
        merchant is None
        or merchant.kind != "merchant"
        or await covering_regulator(session, merchant_id) != regulator_id
    ):
        raise not_found()
    return merchant


def _capped(factors: list[Factor], cap: int) -> list[Factor]:
    """Factors in order, the last ones cut so that together they add at most `cap`."""
    out = []
    left = cap
    for factor in factors:
        points = min(factor.points, left)
        left -= points
        details = factor.details if points == factor.points else factor.details | {"capped": True}
        out.append(Factor(factor.kind, factor.subject, points, details))
    return out


async def _alert_factors(
    session: AsyncSession,
    regulator_id: int,
    merchant_id: int,
    values: Mapping[str, Any],
    now: datetime,
) -> list[Factor]:
    """The authority's own alerts of the merchant (cases likewise: another authority's are
    not this one's to read)."""
    since = now - timedelta(days=int(values["alert_window_days"]))
    counts = await alert_service.alert_counts(
        session, merchant_id, regulator_id=regulator_id, since=since
    )
    rows = await session.execute(
        select(Alert.rule_id, Alert.severity, Alert.status, func.count(Alert.id))
        .where(
            Alert.organisation_id == merchant_id,
            Alert.regulator_organisation_id == regulator_id,
            Alert.last_at >= since,
        )
        .group_by(Alert.rule_id, Alert.severity, Alert.status)
    )
    severity: dict[str, str] = {}
    open_alerts: dict[str, int] = {}
    for rule_id, level, status, n in rows.all():
        known = severity.get(rule_id, "low")
        if SEVERITY_ORDER.index(level) >= SEVERITY_ORDER.index(known):
            severity[rule_id] = level
        if status == OPEN:
            open_alerts[rule_id] = open_alerts.get(rule_id, 0) + int(n)
    points = values["alert_points"]
    factors = [
        Factor(
            "alerts",
            rule_id,
            int(points[severity.get(rule_id, "medium")]) * count,
            {
                "firings": count,
                "open": open_alerts.get(rule_id, 0),
                "severity": severity.get(rule_id, "medium"),
                "per_firing": int(points[severity.get(rule_id, "medium")]),
                "window_days": int(values["alert_window_days"]),
            },
        )
        for rule_id, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if count > 0
    ]
    factors.sort(key=lambda f: (-f.points, f.subject))
    return _capped(factors, int(values["alert_cap"]))


async def _case_factors(
    session: AsyncSession,
    regulator_id: int,
    merchant_id: int,
    values: Mapping[str, Any],
    now: datetime,
) -> list[Factor]:
    since = now - timedelta(days=int(values["case_window_days"]))
    cases = (
        await session.scalars(
            select(Case).where(
                Case.regulator_organisation_id == regulator_id,
                Case.organisation_id == merchant_id,
                Case.opened_at >= since,
            )
        )
    ).all()
    points = values["case_points"]
    tally: dict[str, int] = {}
    for case in cases:
        if case.decision is not None:
            key = "penalty_serious" if case.decision == PENALTY and case.serious else case.decision
            tally[key] = tally.get(key, 0) + 1
        if case.status != CLOSED:
            tally["open"] = tally.get("open", 0) + 1
        if case.status == OVERDUE:
            tally["overdue"] = tally.get("overdue", 0) + 1
    factors = [
        Factor(
            "cases",
            key,
            int(points.get(key, 0)) * n,
            {
                "cases": n,
                "per_case": int(points.get(key, 0)),
                "window_days": int(values["case_window_days"]),
            },
        )
        for key, n in tally.items()
    ]
    factors.sort(key=lambda f: (-f.points, f.subject))
    return _capped(factors, int(values["case_cap"]))


async def profile(session: AsyncSession, actor: Actor, merchant_id: int) -> RiskProfile:
    merchant = await _merchant(session, actor, merchant_id)
    regulator_id = alert_service.regulator_of(actor, SUPERVISION_READ)
    now = clock.now()
    rule = await rules.in_force(session, RULE, at=now)
    values = rule.values
    credit = await credit_risk.explain(session, merchant_id, now)
    factors = [
        Factor(
            "credit_class",
            credit.by_credit,
            int(values["class_points"][credit.by_credit]),
            {
                "score": credit.score,
                "grade": credit.grade,
                "class": credit.by_credit,
                "rule": f"{credit.rule_id}@{credit.rule_version}",
            },
        ),
        Factor(
            "category",
            ",".join(credit.high_risk_categories),
            int(values["category_points"]) if credit.high_risk_categories else 0,
            {
                "categories": list(credit.high_risk_categories),
                "supervision_records": credit.supervision_records,
                "class_steps": credit.steps,
                "final_class": credit.risk_class,
            },
        ),
        *await _alert_factors(session, regulator_id, merchant_id, values, now),
        *await _case_factors(session, regulator_id, merchant_id, values, now),
    ]
    total = min(100, sum(f.points for f in factors))
    level = next((str(name) for name, minimum in values["levels"] if total >= int(minimum)), "low")
    return RiskProfile(
        merchant_organisation_id=merchant.id,
        merchant_name=merchant.name,
        credit=credit,
        factors=factors,
        total=total,
        level=level,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        computed_at=now,
    )

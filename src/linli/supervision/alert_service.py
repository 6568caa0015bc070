"""Raising alerts (merged per rule and subject while open), the signals rules count, and the
regulator's alert queue, scoped to its jurisdiction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import SUPERVISION_MANAGE, SUPERVISION_READ, Actor, acting_organisation
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import AlertRaised
from linli.i18n import N_
from linli.supervision.alert_models import DISMISSED, IN_CASE, OPEN, Alert, Signal
from linli.supervision.rule_service import RuleInForce, covering_regulator_cached

REGULATOR = "regulator"
EVIDENCE_KEPT = 50  # evidence items kept on one merged alert (the newest)


# --- signals ---------------------------------------------------------------------------


_INSERT_SIGNAL = insert(Signal)


async def record_signal(session: AsyncSession, organisation_id: int, kind: str, ref: str) -> None:
    """One observed fact (a Core insert on the connection: this runs on every order and
    complaint)."""
    connection = await session.connection()
    await connection.execute(
        _INSERT_SIGNAL,
        {"organisation_id": organisation_id, "kind": kind, "ref": ref, "at": clock.now()},
    )


async def record_signals(session: AsyncSession, signals: list[tuple[int, str, str]]) -> None:
    """`record_signal` for several (organisation, kind, ref) facts: one INSERT run for all."""
    if not signals:
        return
    at = clock.now()
    connection = await session.connection()
    await connection.execute(
        _INSERT_SIGNAL,
        [{"organisation_id": o, "kind": kind, "ref": ref, "at": at} for o, kind, ref in signals],
    )


async def count_signals(
    session: AsyncSession, organisation_id: int, kind: str, since: datetime, until: datetime
) -> int:
    found = await session.scalar(
        select(func.count(Signal.id)).where(
            Signal.organisation_id == organisation_id,
            Signal.kind == kind,
            Signal.at > since,
            Signal.at <= until,
        )
    )
    return int(found or 0)


async def recent_refs(
    session: AsyncSession, organisation_id: int, kind: str, since: datetime, limit: int = 20
) -> list[str]:
    rows = await session.scalars(
        select(Signal.ref)
        .where(Signal.organisation_id == organisation_id, Signal.kind == kind, Signal.at > since)
        .order_by(Signal.at.desc(), Signal.id.desc())
        .limit(limit)
    )
    return list(rows.all())


# --- raising ---------------------------------------------------------------------------


def _rule_label(rule: RuleInForce) -> str:
    return f"{rule.rule_id}@{rule.jurisdiction}#{rule.version}"


async def raise_alert(
    session: AsyncSession,
    rule: RuleInForce,
    organisation_id: int,
    *,
    subject: str,
    summary: str,
    inputs: dict[str, Any],
    evidence: list[dict[str, Any]],
    open_alert: Alert | EllipsisType | None = ...,
    severity: str | None = None,
) -> None:
    """A new open alert, or the open one of the same rule and subject with its count up
    (`open_alert`: that one, or None, when the caller has read it already). `severity`: a
    new alert's, when the rule says this kind of firing is graver than its own."""
    now = clock.now()
    key = dedupe_key(rule.rule_id, organisation_id, subject)
    alert = (
        await session.scalar(
            select(Alert).where(Alert.dedupe_key == key, Alert.status == OPEN).limit(1)
        )
        if isinstance(open_alert, EllipsisType)
        else open_alert
    )
    if alert is not None:
        alert.count += 1
        alert.last_at = now
        alert.rule_version = rule.version
        alert.rule_jurisdiction = rule.jurisdiction
        alert.summary = summary
        alert.inputs = {**inputs, "rule": _rule_label(rule)}
        fresh = [item for item in evidence if item not in alert.evidence]  # cited once
        alert.evidence = [*alert.evidence, *fresh][-EVIDENCE_KEPT:]
        return
    await _insert_alert(
        session,
        rule,
        organisation_id,
        subject=subject,
        key=key,
        summary=summary,
        inputs=inputs,
        evidence=evidence,
        severity=severity or rule.severity,
    )


_INSERT_ALERT = insert(Alert).returning(Alert.__table__.c.id)


async def _insert_alert(
    session: AsyncSession,
    rule: RuleInForce,
    organisation_id: int,
    *,
    subject: str,
    key: str,
    summary: str,
    inputs: dict[str, Any],
    evidence: list[dict[str, Any]],
    severity: str,
) -> None:
    """The new alert, its audit entry and its `AlertRaised` event, as three Core INSERTs
    (rules that run on every price or order event raise alerts through here: the ORM's unit
    of work cost more than the three rows, docs/supervision.md "Cost")."""
    now = clock.now()
    regulator_id = await covering_regulator_cached(session, organisation_id)
    connection = await session.connection()
    alert_id = (
        await connection.execute(
            _INSERT_ALERT,
            {
                "rule_id": rule.rule_id,
                "rule_version": rule.version,
                "rule_jurisdiction": rule.jurisdiction,
                "severity": severity,
                "organisation_id": organisation_id,
                "regulator_organisation_id": regulator_id,
                "subject": subject,
                "dedupe_key": key,
                "status": OPEN,
                "count": 1,
                "summary": summary,
                "inputs": {**inputs, "rule": _rule_label(rule)},
                "evidence": evidence[-EVIDENCE_KEPT:],
                "first_at": now,
                "last_at": now,
            },
        )
    ).scalar_one()
    await audit.record_now(
        session,
        Actor.for_system(),
        "supervision.alert_raised",
        target_type="supervision_alert",
        target_id=alert_id,
        organisation_id=regulator_id,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        merchant_organisation_id=organisation_id,
    )
    await outbox.publish_now(
        session,
        AlertRaised(
            alert_id=alert_id,
            organisation_id=organisation_id,
            regulator_organisation_id=regulator_id,
            rule_id=rule.rule_id,
            rule_version=rule.version,
            severity=severity,
        ),
    )


def subject_alerts(key: ColumnElement[str]) -> Select[Any]:
    """(id, status, evidence) of every alert (any status) whose dedupe key is `key`, an SQL
    expression: for a rule that reads them in its own statement on every event, what the
    "already judged" check and the merge need."""
    alerts = Alert.__table__
    return select(alerts.c.id, alerts.c.status, alerts.c.evidence).where(alerts.c.dedupe_key == key)


def dedupe_key(rule_id: str, organisation_id: int, subject: str) -> str:
    """One open alert per key: repeated firings merge into it."""
    return f"{rule_id}|{organisation_id}|{subject}"


def dedupe_key_of(
    rule_id: str, organisation_id: ColumnElement[Any], subject: ColumnElement[str]
) -> ColumnElement[str]:
    """`dedupe_key` built in SQL."""
    return literal(f"{rule_id}|") + cast(organisation_id, String) + literal("|") + subject


_ALERTS = Alert.__table__
_MERGE = (
    update(Alert)
    .where(_ALERTS.c.id == bindparam("alert_id"))
    .values(
        count=_ALERTS.c.count + 1,
        last_at=bindparam("new_last_at", type_=_ALERTS.c.last_at.type),
        rule_version=bindparam("new_rule_version", type_=_ALERTS.c.rule_version.type),
        rule_jurisdiction=bindparam(
            "new_rule_jurisdiction", type_=_ALERTS.c.rule_jurisdiction.type
        ),
        summary=bindparam("new_summary", type_=_ALERTS.c.summary.type),
        inputs=bindparam("new_inputs", type_=_ALERTS.c.inputs.type),
        evidence=bindparam("new_evidence", type_=_ALERTS.c.evidence.type),
    )
)


async def merge(
    session: AsyncSession,
    alert_id: int,
    kept: list[Any],
    rule: RuleInForce,
    *,
    summary: str,
    inputs: dict[str, Any],
    evidence: list[dict[str, Any]],
) -> None:
    """`raise_alert`'s merge into an open alert read with `subject_alerts` (`kept`: its
    evidence), as one UPDATE built once."""
    fresh = [item for item in evidence if item not in kept]
    connection = await session.connection()
    await connection.execute(
        _MERGE,
        {
            "alert_id": alert_id,
            "new_last_at": clock.now(),
            "new_rule_version": rule.version,
            "new_rule_jurisdiction": rule.jurisdiction,
            "new_summary": summary,
            "new_inputs": {**inputs, "rule": _rule_label(rule)},
            "new_evidence": [*kept, *fresh][-EVIDENCE_KEPT:],
        },
    )


# --- the regulator's queue -------------------------------------------------------------


def regulator_of(actor: Actor, permission: Any = SUPERVISION_READ) -> int:
    return acting_organisation(actor, permission, kinds=(REGULATOR,))


async def queue(
    session: AsyncSession,
    actor: Actor,
    *,
    rule_id: str | None = None,
    severity: str | None = None,
    older_than_days: int | None = None,
    status: str | None = OPEN,
    limit: int = 200,
) -> Sequence[Alert]:
    regulator_id = regulator_of(actor)
    query = select(Alert).where(Alert.regulator_organisation_id == regulator_id)
    if status:
        query = query.where(Alert.status == status)
    if rule_id:
        query = query.where(Alert.rule_id == rule_id)
    if severity:
        query = query.where(Alert.severity == severity)
    if older_than_days is not None:
        query = query.where(Alert.first_at <= clock.now() - timedelta(days=older_than_days))
    query = query.order_by(Alert.last_at.desc(), Alert.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def access(
    session: AsyncSession, actor: Actor, alert_id: int, permission: Any = SUPERVISION_READ
) -> Alert:
    """The alert if it is the acting regulator's; 404 otherwise (another authority's too)."""
    regulator_id = regulator_of(actor, permission)
    alert = await session.get(Alert, alert_id)
    if alert is None or alert.regulator_organisation_id != regulator_id:
        raise NotFound(N_("No such alert."))
    return alert


async def dismiss(session: AsyncSession, actor: Actor, alert_id: int, reason: str) -> Alert:
    alert = await access(session, actor, alert_id, SUPERVISION_MANAGE)
    if alert.status != OPEN:
        raise Conflict(N_("This alert is no longer open."))
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(N_("Say why."), fields={"reason": N_("Required.")})
    alert.status = DISMISSED
    alert.dismissed_reason = reason[:500]
    audit.record(
        session,
        actor,
        "supervision.alert_dismissed",
        target_type="supervision_alert",
        target_id=alert.id,
        reason=alert.dismissed_reason,
    )
    return alert


async def holds_evidence(
    session: AsyncSession, rule_id: str, organisation_id: int, subject: str, key: str, value: object
) -> bool:
    """Whether an alert of this rule on this subject (open, in a case or dismissed) already
    cites `key` = `value` in its evidence: the same fact is not counted twice."""
    rows = await session.scalars(
        select(Alert.evidence).where(Alert.dedupe_key == f"{rule_id}|{organisation_id}|{subject}")
    )
    return any(
        isinstance(item, dict) and item.get(key) == value
        for evidence in rows.all()
        for item in evidence
    )


def mark_in_case(alert: Alert, case_id: int) -> None:
    alert.status = IN_CASE
    alert.case_id = case_id


async def alert_counts(
    session: AsyncSession,
    organisation_id: int,
    *,
    regulator_id: int,
    since: datetime | None = None,
) -> dict[str, int]:
    """A merchant's alerts at one authority by rule id (firings merged, so the sum of counts),
    for its risk profile: another authority's alerts are not this one's to read."""
    query = (
        select(Alert.rule_id, func.sum(Alert.count))
        .where(
            Alert.organisation_id == organisation_id,
            Alert.regulator_organisation_id == regulator_id,
        )
        .group_by(Alert.rule_id)
    )
    if since is not None:
        query = query.where(Alert.last_at >= since)
    return {rule: int(total or 0) for rule, total in (await session.execute(query)).all()}

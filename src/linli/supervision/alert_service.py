"""Raising alerts (merged per rule and subject while open), the signals rules count, and the
regulator's alert queue, scoped to its jurisdiction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from types import EllipsisType
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
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
) -> Alert:
    """A new open alert, or the open one of the same rule and subject with its count up
    (`open_alert`: that one, or None, when the caller has read it already)."""
    now = clock.now()
    key = f"{rule.rule_id}|{organisation_id}|{subject}"
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
        alert.inputs = {**inputs, "rule": f"{rule.rule_id}@{rule.jurisdiction}#{rule.version}"}
        fresh = [item for item in evidence if item not in alert.evidence]  # cited once
        alert.evidence = [*alert.evidence, *fresh][-EVIDENCE_KEPT:]
        return alert
    alert = Alert(
        rule_id=rule.rule_id,
        rule_version=rule.version,
        rule_jurisdiction=rule.jurisdiction,
        severity=rule.severity,
        organisation_id=organisation_id,
        regulator_organisation_id=await covering_regulator_cached(session, organisation_id),
        subject=subject,
        dedupe_key=key,
        status=OPEN,
        count=1,
        summary=summary,
        inputs={**inputs, "rule": f"{rule.rule_id}@{rule.jurisdiction}#{rule.version}"},
        evidence=evidence[-EVIDENCE_KEPT:],
        first_at=now,
        last_at=now,
    )
    session.add(alert)
    await session.flush()
    audit.record(
        session,
        Actor.for_system(),
        "supervision.alert_raised",
        target_type="supervision_alert",
        target_id=alert.id,
        organisation_id=alert.regulator_organisation_id,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        merchant_organisation_id=organisation_id,
    )
    outbox.publish(
        session,
        AlertRaised(
            alert_id=alert.id,
            organisation_id=organisation_id,
            regulator_organisation_id=alert.regulator_organisation_id,
            rule_id=rule.rule_id,
            rule_version=rule.version,
            severity=rule.severity,
        ),
    )
    return alert


_ALERTS_OF_SUBJECT = select(
    Alert.__table__.c.id, Alert.__table__.c.status, Alert.__table__.c.evidence
).where(Alert.__table__.c.dedupe_key == bindparam("key"))


async def alerts_of_subject(
    session: AsyncSession, rule_id: str, organisation_id: int, subject: str
) -> list[Any]:
    """(id, status, evidence) of every alert of this rule on this subject (any status): for
    rules that run on every event, what `holds_evidence` and the merge need, in one read."""
    connection = await session.connection()
    key = f"{rule_id}|{organisation_id}|{subject}"
    return list((await connection.execute(_ALERTS_OF_SUBJECT, {"key": key})).all())


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
    """`raise_alert`'s merge into an open alert read by `alerts_of_subject` (`kept`: its
    evidence), as one UPDATE."""
    fresh = [item for item in evidence if item not in kept]
    connection = await session.connection()
    await connection.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(
            count=Alert.count + 1,
            last_at=clock.now(),
            rule_version=rule.version,
            rule_jurisdiction=rule.jurisdiction,
            summary=summary,
            inputs={**inputs, "rule": f"{rule.rule_id}@{rule.jurisdiction}#{rule.version}"},
            evidence=[*kept, *fresh][-EVIDENCE_KEPT:],
        )
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

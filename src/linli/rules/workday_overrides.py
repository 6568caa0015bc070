"""Operators' overrides of the working-day calendar: each edit is a new version of rule
`calendar.working_days` (the previous one ends when it starts), with an audit entry naming the
date, the kind, the reason and who made it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import RULES_CALENDAR_MANAGE, Actor, ensure
from linli.errors import Conflict, ValidationFailed
from linli.i18n import N_
from linli.rules import service, workdays
from linli.rules.models import RuleVersion
from linli.rules.schemas import OverrideIn, OverrideRemoveIn


def stale_calendar() -> Conflict:
    return Conflict(
        N_("The calendar was changed in the meantime. Check it and try again."),
        code="calendar_changed",
    )


async def set_override(session: AsyncSession, actor: Actor, data: OverrideIn) -> RuleVersion:
    """Make `data.day` a holiday or a working day from now on."""
    ensure(actor, RULES_CALENDAR_MANAGE)
    current = await _current(session, data.version)
    overrides = _overrides(current)
    overrides[data.day.isoformat()] = {"kind": str(data.kind), "reason": data.reason}
    row = await _new_version(session, current, overrides)
    audit.record(
        session,
        actor,
        "rules.calendar_override_set",
        target_type="rule_version",
        target_id=row.id,
        day=data.day.isoformat(),
        kind=str(data.kind),
        reason=data.reason,
        rule=f"{row.rule_id}@{row.version}",
    )
    return row


async def remove_override(
    session: AsyncSession, actor: Actor, data: OverrideRemoveIn
) -> RuleVersion:
    """Take the override of `data.day` out: the date follows the package or Monday to Friday."""
    ensure(actor, RULES_CALENDAR_MANAGE)
    current = await _current(session, data.version)
    overrides = _overrides(current)
    removed = overrides.pop(data.day.isoformat(), None)
    if removed is None:
        raise ValidationFailed(
            N_("Check the date."), fields={"day": N_("There is no override on this date.")}
        )
    row = await _new_version(session, current, overrides)
    audit.record(
        session,
        actor,
        "rules.calendar_override_removed",
        target_type="rule_version",
        target_id=row.id,
        day=data.day.isoformat(),
        kind=removed.get("kind"),
        reason=data.reason,
        rule=f"{row.rule_id}@{row.version}",
    )
    return row


async def _current(session: AsyncSession, seen_version: int) -> RuleVersion:
    current = await service.in_force(session, workdays.CALENDAR_RULE)
    if current.version != seen_version:
        raise stale_calendar()
    return current


def _overrides(rule: RuleVersion) -> dict[str, dict[str, Any]]:
    stored: dict[str, dict[str, Any]] = rule.values.get("overrides") or {}
    return {day: dict(entry) for day, entry in stored.items()}


async def _new_version(
    session: AsyncSession, current: RuleVersion, overrides: dict[str, dict[str, Any]]
) -> RuleVersion:
    now = clock.now()
    row = RuleVersion(
        rule_id=current.rule_id,
        version=current.version + 1,
        jurisdiction=current.jurisdiction,
        title=current.title,
        legal_basis=current.legal_basis,
        effective_from=now,
        effective_to=None,
        values={**current.values, "overrides": dict(sorted(overrides.items()))},
        created_at=now,
    )
    # Two operators saving at once both write version n+1: the unique (rule, version,
    # jurisdiction) lets one through and the other is told to look again.
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise stale_calendar() from None
    current.effective_to = now
    await session.flush()
    workdays.forget(session)
    return row

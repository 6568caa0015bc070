"""The one inspector directory of an authority, by duty, and conflicts of interest.

A member of a regulator organisation whose role grants SUPERVISION_INSPECT is an inspector.
Duties differ (docs/supervision.md "Inspectors"):

- `Duty.CASES`: case assignment. Supervisors (SUPERVISION_MANAGE) assign cases rather than
  receive them, so only roles without SUPERVISION_MANAGE are in this directory.
- `Duty.RANDOM_INSPECTIONS`: the draw of double random plans. Every role holding
  SUPERVISION_INSPECT, supervisors included, may be drawn.

Conflicts of interest: a declared relation keeps an inspector off a merchant's cases and
draws; for draws the inspector's own previous cases of the merchant and previous plan
inspections of it are conflicts too (the same eyes never inspect the same merchant twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Membership, Organisation
from linli.audit import service as audit
from linli.authz import ROLE_PERMISSIONS, SUPERVISION_INSPECT, SUPERVISION_MANAGE, Actor
from linli.errors import NotFound, ValidationFailed
from linli.i18n import N_
from linli.supervision.alert_service import regulator_of
from linli.supervision.case_models import CLOSED, Case, CaseEntry
from linli.supervision.inspector_models import InspectorConflict
from linli.supervision.plan_models import InspectionAssignment


class Duty(StrEnum):
    CASES = "cases"
    RANDOM_INSPECTIONS = "random_inspections"


class ConflictKind(StrEnum):
    DECLARED = "declared"  # a declared relation (supervision_inspector_conflicts)
    CASE = "case"  # the inspector was assigned a case of the merchant before
    INSPECTION = "inspection"  # the inspector was drawn for the merchant by an earlier plan


def roles_for(duty: Duty) -> tuple[str, ...]:
    """The membership roles whose holders have this duty."""
    return tuple(
        sorted(
            role
            for role, granted in ROLE_PERMISSIONS.items()
            if SUPERVISION_INSPECT in granted
            and (duty is Duty.RANDOM_INSPECTIONS or SUPERVISION_MANAGE not in granted)
        )
    )


async def directory(session: AsyncSession, regulator_id: int, duty: Duty = Duty.CASES) -> list[int]:
    """User ids of the authority's inspectors for `duty`, ascending."""
    rows = await session.scalars(
        select(func.distinct(Membership.user_id)).where(
            Membership.organisation_id == regulator_id, Membership.role.in_(roles_for(duty))
        )
    )
    return sorted(int(r) for r in rows.all())


async def conflicted(session: AsyncSession, merchant_id: int) -> set[int]:
    """Inspectors with a declared relation to the merchant."""
    rows = await session.scalars(
        select(InspectorConflict.inspector_user_id).where(
            InspectorConflict.merchant_organisation_id == merchant_id
        )
    )
    return {int(r) for r in rows.all()}


async def eligible(session: AsyncSession, regulator_id: int, merchant_id: int) -> list[int]:
    """The authority's case inspectors without a declared relation to the merchant (a case
    may follow an earlier one of the same merchant: it is the same investigation's memory)."""
    excluded = await conflicted(session, merchant_id)
    return [uid for uid in await directory(session, regulator_id) if uid not in excluded]


async def conflicts(
    session: AsyncSession, inspector_ids: Sequence[int], merchant_ids: Sequence[int]
) -> dict[tuple[int, int], list[str]]:
    """For the draw: every (inspector, merchant) pair that may not be drawn, with the kinds of
    conflict that apply (declared relations, the inspector's own previous cases of the
    merchant, their previous plan inspections of it), each list sorted."""
    found: dict[tuple[int, int], set[str]] = {}
    if not inspector_ids or not merchant_ids:
        return {}
    inspectors_, merchants_ = list(inspector_ids), list(merchant_ids)
    queries = (
        (
            ConflictKind.DECLARED,
            select(
                InspectorConflict.inspector_user_id, InspectorConflict.merchant_organisation_id
            ).where(
                InspectorConflict.inspector_user_id.in_(inspectors_),
                InspectorConflict.merchant_organisation_id.in_(merchants_),
            ),
        ),
        (
            ConflictKind.CASE,
            # every inspector a case of the merchant ever had (reassigned ones too)
            select(CaseEntry.assignee_user_id, Case.organisation_id)
            .join(Case, Case.id == CaseEntry.case_id)
            .where(
                CaseEntry.assignee_user_id.in_(inspectors_),
                Case.organisation_id.in_(merchants_),
            ),
        ),
        (
            ConflictKind.INSPECTION,
            select(
                InspectionAssignment.inspector_user_id,
                InspectionAssignment.merchant_organisation_id,
            ).where(
                InspectionAssignment.inspector_user_id.in_(inspectors_),
                InspectionAssignment.merchant_organisation_id.in_(merchants_),
            ),
        ),
    )
    for kind, query in queries:
        for inspector_id, merchant_id in (await session.execute(query.distinct())).all():
            if inspector_id is not None:
                found.setdefault((int(inspector_id), int(merchant_id)), set()).add(kind)
    return {pair: sorted(kinds) for pair, kinds in found.items()}


async def open_load(session: AsyncSession, user_ids: list[int]) -> dict[int, int]:
    """Cases not yet closed per inspector."""
    load = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return load
    rows = await session.execute(
        select(Case.inspector_user_id, func.count(Case.id))
        .where(Case.inspector_user_id.in_(user_ids), Case.status != CLOSED)
        .group_by(Case.inspector_user_id)
    )
    for uid, count in rows.all():
        if uid is not None:
            load[int(uid)] = int(count)
    return load


async def declare_conflict(
    session: AsyncSession, actor: Actor, *, inspector_user_id: int, merchant_id: int, reason: str
) -> InspectorConflict:
    regulator_id = regulator_of(actor, SUPERVISION_MANAGE)
    # the widest directory: a supervisor may be drawn for random inspections
    if inspector_user_id not in await directory(session, regulator_id, Duty.RANDOM_INSPECTIONS):
        raise ValidationFailed(
            N_("Not an inspector of your authority."), fields={"inspector_user_id": N_("Unknown.")}
        )
    merchant = await session.get(Organisation, merchant_id)
    if merchant is None or merchant.kind not in ("merchant", "supplier"):
        raise NotFound(N_("No such merchant."))
    if not reason.strip():
        raise ValidationFailed(N_("Say why."), fields={"reason": N_("Required.")})
    existing = await session.scalar(
        select(InspectorConflict).where(
            InspectorConflict.inspector_user_id == inspector_user_id,
            InspectorConflict.merchant_organisation_id == merchant_id,
        )
    )
    if existing is not None:
        return existing
    row = InspectorConflict(
        regulator_organisation_id=regulator_id,
        inspector_user_id=inspector_user_id,
        merchant_organisation_id=merchant_id,
        reason=reason.strip()[:500],
        declared_by_user_id=actor.user_id,
        declared_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "supervision.conflict_declared",
        target_type="supervision_inspector",
        target_id=inspector_user_id,
        merchant_organisation_id=merchant_id,
    )
    return row

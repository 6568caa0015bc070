"""The inspector directory of an authority and declared conflicts of interest.

An inspector, for case assignment, is a member of a regulator organisation whose role grants
SUPERVISION_INSPECT but not SUPERVISION_MANAGE: supervisors may inspect (and are drawn for
random inspections, docs/supervision-inspections.md) but assign cases rather than receive them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Membership, Organisation
from linli.audit import service as audit
from linli.authz import ROLE_PERMISSIONS, SUPERVISION_INSPECT, SUPERVISION_MANAGE, Actor
from linli.errors import NotFound, ValidationFailed
from linli.i18n import N_
from linli.supervision.alert_service import regulator_of
from linli.supervision.case_models import CLOSED, Case
from linli.supervision.inspector_models import InspectorConflict

INSPECTING_ROLES = tuple(
    sorted(
        role
        for role, granted in ROLE_PERMISSIONS.items()
        if SUPERVISION_INSPECT in granted and SUPERVISION_MANAGE not in granted
    )
)


async def directory(session: AsyncSession, regulator_id: int) -> list[int]:
    """User ids of the authority's inspectors, ascending."""
    rows = await session.scalars(
        select(func.distinct(Membership.user_id)).where(
            Membership.organisation_id == regulator_id, Membership.role.in_(INSPECTING_ROLES)
        )
    )
    return sorted(int(r) for r in rows.all())


async def conflicted(session: AsyncSession, merchant_id: int) -> set[int]:
    rows = await session.scalars(
        select(InspectorConflict.inspector_user_id).where(
            InspectorConflict.merchant_organisation_id == merchant_id
        )
    )
    return {int(r) for r in rows.all()}


async def eligible(session: AsyncSession, regulator_id: int, merchant_id: int) -> list[int]:
    """The authority's inspectors without a declared relation to the merchant."""
    excluded = await conflicted(session, merchant_id)
    return [uid for uid in await directory(session, regulator_id) if uid not in excluded]


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
    if inspector_user_id not in await directory(session, regulator_id):
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

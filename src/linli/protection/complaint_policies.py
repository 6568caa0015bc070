"""Who sees and decides which complaints: the parties and nobody else.

The parties are the complainant, the merchant complained about (any complaint but one about a
leader), the leader complained about, and the deciding organisation: the platform's operators
for a platform dispute (and for one escalated from them), or the regulator the complaint was
assigned to. A regulator is assigned when its jurisdiction covers the merchant, matched the way
trace decides a regulator's reach (its district, else its city, else its province, by the
GB/T 2260 codes on `accounts.Organisation`); the most specific regulator decides.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.authz import (
    COMPLAINTS_READ,
    COMPLAINTS_REPLY,
    PLATFORM_COMPLAINTS,
    REGULATOR_COMPLAINTS,
    REGULATOR_COMPLAINTS_READ,
    Actor,
)
from linli.protection.complaint_models import Complaint, ComplaintTarget, Decider, Role

REGULATOR = "regulator"
MERCHANT_KINDS = ("merchant", "supplier")


def as_complainant(actor: Actor) -> ColumnElement[bool]:
    if actor.user_id is None or not actor.has_scope("resident"):
        return false()
    return Complaint.complainant_user_id == actor.user_id


def as_leader(actor: Actor) -> ColumnElement[bool]:
    if actor.user_id is None or not actor.has_scope("leader"):
        return false()
    return Complaint.subject_leader_user_id == actor.user_id


def _merchant_member(actor: Actor) -> bool:
    # A token that may reply (org:write) reads what it replies to.
    return actor.has(COMPLAINTS_READ) or actor.has(COMPLAINTS_REPLY)


def as_merchant(actor: Actor) -> ColumnElement[bool]:
    if actor.organisation_kind not in MERCHANT_KINDS or not _merchant_member(actor):
        return false()
    return and_(
        Complaint.subject_organisation_id == actor.organisation_id,
        Complaint.target != ComplaintTarget.LEADER,
    )


def as_platform(actor: Actor) -> ColumnElement[bool]:
    if not actor.has(PLATFORM_COMPLAINTS) or actor.system:
        return false()
    return Complaint.platform_involved.is_(True)


def as_regulator(actor: Actor) -> ColumnElement[bool]:
    if not actor.acts_for(REGULATOR) or not actor.has(REGULATOR_COMPLAINTS_READ):
        return false()
    return Complaint.regulator_organisation_id == actor.organisation_id


def visible(actor: Actor) -> ColumnElement[bool]:
    """Complaints the actor is a party to, in any capacity."""
    return or_(
        as_complainant(actor),
        as_leader(actor),
        as_merchant(actor),
        as_platform(actor),
        as_regulator(actor),
    )


def capacities(actor: Actor, complaint: Complaint) -> set[Role]:
    """Every capacity in which the actor is a party to the complaint."""
    found: set[Role] = set()
    uid = actor.user_id
    if uid is not None and uid == complaint.complainant_user_id and actor.has_scope("resident"):
        found.add(Role.COMPLAINANT)
    if uid is not None and uid == complaint.subject_leader_user_id and actor.has_scope("leader"):
        found.add(Role.LEADER)
    if (
        actor.organisation_kind in MERCHANT_KINDS
        and actor.organisation_id == complaint.subject_organisation_id
        and complaint.target != ComplaintTarget.LEADER
        and _merchant_member(actor)
    ):
        found.add(Role.MERCHANT)
    if complaint.platform_involved and actor.has(PLATFORM_COMPLAINTS) and not actor.system:
        found.add(Role.PLATFORM)
    if (
        actor.acts_for(REGULATOR)
        and actor.organisation_id == complaint.regulator_organisation_id
        and actor.has(REGULATOR_COMPLAINTS_READ)
    ):
        found.add(Role.REGULATOR)
    return found


def may_decide(actor: Actor, complaint: Complaint) -> Role | None:
    """The deciding capacity the actor holds on the complaint now, if any."""
    if complaint.decider == Decider.PLATFORM and actor.has(PLATFORM_COMPLAINTS):
        return Role.PLATFORM if not actor.system else None
    if (
        complaint.decider == Decider.REGULATOR
        and actor.acts_for(REGULATOR)
        and actor.organisation_id == complaint.regulator_organisation_id
        and actor.has(REGULATOR_COMPLAINTS)
    ):
        return Role.REGULATOR
    return None


def may_write(actor: Actor, role: Role) -> bool:
    """Whether the capacity may add to the timeline (a read-only token may not)."""
    if role == Role.MERCHANT:
        return actor.has(COMPLAINTS_REPLY)
    if role == Role.REGULATOR:
        return actor.has(REGULATOR_COMPLAINTS)
    return True


async def covering_regulator(session: AsyncSession, organisation_id: int) -> int | None:
    """The regulator whose jurisdiction covers the organisation: one registered for its
    district, else for its city (no district), else for its province (no city); None when no
    regulator covers it."""
    subject = await session.get(Organisation, organisation_id)
    if subject is None:
        return None
    regulators = select(Organisation.id).where(Organisation.kind == REGULATOR)
    levels = (
        (subject.district_code, Organisation.district_code == subject.district_code),
        (
            subject.city_code,
            and_(
                Organisation.district_code.is_(None),
                Organisation.city_code == subject.city_code,
            ),
        ),
        (
            subject.province_code,
            and_(
                Organisation.district_code.is_(None),
                Organisation.city_code.is_(None),
                Organisation.province_code == subject.province_code,
            ),
        ),
    )
    for code, condition in levels:
        if not code:
            continue
        found = await session.scalar(regulators.where(condition).order_by(Organisation.id))
        if found is not None:
            return int(found)
    return None

"""Communities and pickup points; leader applications and their review; where residents
pick up their group-buy orders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts import service as accounts
from linli.accounts.models import User
from linli.audit import service as audit
from linli.authz import COMMUNITY_MANAGE, PLATFORM_REVIEW, Actor, ensure
from linli.community import policies
from linli.community.models import (
    Community,
    Leader,
    LeaderApplication,
    PickupPoint,
    Residence,
)
from linli.community.schemas import CommunityIn, LeaderApplicationIn
from linli.db import escape_like
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import LeaderApplicationDecided, ResidentJoinedCommunity
from linli.i18n import N_
from linli.reviews import ReviewStatus, ensure_decidable

MICRO = 1_000_000

# Lower layers ask, higher layers provide: credit (above community) provides the check that an
# applicant's credit grade allows leading a pickup point; it raises a DomainError to refuse.
LeaderCheck = Callable[[AsyncSession, int], Awaitable[None]]
_leader_checks: list[LeaderCheck] = []


def provide_leader_check(check: LeaderCheck) -> None:
    if check not in _leader_checks:
        _leader_checks.append(check)


async def create_community(session: AsyncSession, actor: Actor, data: CommunityIn) -> Community:
    ensure(actor, COMMUNITY_MANAGE)
    accounts.check_region_codes((data.province_code, data.city_code, data.district_code))
    community = Community(
        name=data.name,
        province_code=data.province_code,
        city_code=data.city_code,
        district_code=data.district_code,
        address=data.address,
        latitude_e6=round(data.latitude * MICRO),
        longitude_e6=round(data.longitude * MICRO),
        created_at=clock.now(),
    )
    session.add(community)
    await session.flush()
    audit.record(
        session,
        actor,
        "community.created",
        target_type="community",
        target_id=community.id,
        name=community.name,
    )
    return community


async def search_communities(
    session: AsyncSession, *, q: str = "", district_code: str | None = None, limit: int = 50
) -> Sequence[Community]:
    query = select(Community).order_by(Community.name, Community.id).limit(limit)
    if q:
        pattern = f"%{escape_like(q)}%"
        query = query.where(
            or_(
                Community.name.like(pattern, escape="\\"),
                Community.address.like(pattern, escape="\\"),
            )
        )
    if district_code:
        query = query.where(Community.district_code == district_code)
    return (await session.scalars(query)).all()


async def get_community(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound(N_("No such community."))
    return community


@dataclass(frozen=True)
class PointView:
    point: PickupPoint
    leader_name: str | None


async def pickup_points(session: AsyncSession, community_id: int) -> list[PointView]:
    rows = await session.execute(
        select(PickupPoint, User.display_name)
        .outerjoin(User, User.id == PickupPoint.leader_user_id)
        .where(PickupPoint.community_id == community_id)
        .order_by(PickupPoint.id)
    )
    return [PointView(point, name) for point, name in rows]


async def join(
    session: AsyncSession, actor: Actor, *, community_id: int, pickup_point_id: int
) -> Residence:
    """Join a community (or move) and choose the default pickup point there."""
    user_id = actor.require_user_id()
    point = await session.scalar(
        select(PickupPoint).where(
            PickupPoint.id == pickup_point_id,
            PickupPoint.community_id == community_id,
            PickupPoint.active.is_(True),
        )
    )
    if point is None:
        raise ValidationFailed(
            N_("Choose an open pickup point of this community."),
            fields={"pickup_point_id": N_("Not a pickup point of this community.")},
        )
    residence = await session.get(Residence, user_id)
    moved = residence is not None and residence.community_id != community_id
    if residence is None:
        residence = Residence(
            user_id=user_id,
            community_id=community_id,
            pickup_point_id=point.id,
            joined_at=clock.now(),
        )
        session.add(residence)
    else:
        residence.community_id = community_id
        residence.pickup_point_id = point.id
        if moved:
            residence.joined_at = clock.now()
    await session.flush()
    outbox.publish(
        session,
        ResidentJoinedCommunity(
            user_id=user_id, community_id=community_id, pickup_point_id=point.id
        ),
    )
    audit.record(
        session,
        actor,
        "community.residence_set",
        target_type="community",
        target_id=community_id,
        pickup_point_id=point.id,
    )
    return residence


async def my_residence(session: AsyncSession, actor: Actor) -> Residence | None:
    return await session.get(Residence, actor.require_user_id())


async def apply_as_leader(
    session: AsyncSession, actor: Actor, data: LeaderApplicationIn
) -> LeaderApplication:
    user_id = actor.require_user_id()
    await get_community(session, data.community_id)
    for check in _leader_checks:
        await check(session, user_id)
    pending = await session.scalar(
        select(LeaderApplication.id).where(
            LeaderApplication.user_id == user_id, LeaderApplication.status == ReviewStatus.SUBMITTED
        )
    )
    if pending is not None:
        raise Conflict(
            N_("You already have an application under review."), code="application_pending"
        )
    application = LeaderApplication(
        user_id=user_id,
        community_id=data.community_id,
        point_name=data.point_name,
        point_address=data.point_address,
        opening_hours=data.opening_hours,
        daily_capacity=data.daily_capacity,
        motivation=data.motivation,
        status=ReviewStatus.SUBMITTED,
        created_at=clock.now(),
    )
    session.add(application)
    await session.flush()
    audit.record(
        session,
        actor,
        "community.leader_applied",
        target_type="leader_application",
        target_id=application.id,
    )
    return application


async def leader_applications(
    session: AsyncSession, actor: Actor, *, status: str | None = None, mine_only: bool = False
) -> Sequence[LeaderApplication]:
    """Reviewers see every application; applicants their own."""
    query = (
        policies.readable_leader_applications(actor, mine_only=mine_only)
        .order_by(LeaderApplication.id.desc())
        .limit(100)
    )
    if status:
        query = query.where(LeaderApplication.status == status)
    return (await session.scalars(query)).all()


async def decide_leader(
    session: AsyncSession,
    actor: Actor,
    application_id: int,
    *,
    approve: bool,
    commission_bp: int | None,
    reason: str | None,
) -> LeaderApplication:
    ensure(actor, PLATFORM_REVIEW)
    application = await session.scalar(
        select(LeaderApplication).where(LeaderApplication.id == application_id).with_for_update()
    )
    if application is None:
        raise NotFound(N_("No such application."))
    cleaned = ensure_decidable(application.status, approve=approve, reason=reason)
    if approve and commission_bp is None:
        raise ValidationFailed(
            N_("Set the leader's commission rate."),
            fields={"commission_bp": N_("Required when approving.")},
        )
    now = clock.now()
    application.reviewed_by_id = actor.user_id
    application.reviewed_at = now
    application.decision_reason = cleaned
    if approve:
        assert commission_bp is not None
        point = PickupPoint(
            community_id=application.community_id,
            name=application.point_name,
            address=application.point_address,
            opening_hours=application.opening_hours,
            daily_capacity=application.daily_capacity,
            leader_user_id=application.user_id,
            active=True,
            created_at=now,
        )
        session.add(point)
        leader = await session.get(Leader, application.user_id)
        if leader is None:
            session.add(
                Leader(
                    user_id=application.user_id,
                    commission_bp=commission_bp,
                    approved_at=now,
                    active=True,
                )
            )
        else:
            leader.commission_bp = commission_bp
            leader.active = True
        await session.flush()
        application.status = ReviewStatus.APPROVED
        application.commission_bp = commission_bp
        application.pickup_point_id = point.id
    else:
        application.status = ReviewStatus.REJECTED
    outbox.publish(
        session,
        LeaderApplicationDecided(
            application_id=application.id,
            user_id=application.user_id,
            approved=approve,
            pickup_point_id=application.pickup_point_id,
            reason=application.decision_reason,
        ),
    )
    audit.record(
        session,
        actor,
        "community.leader_decided",
        target_type="leader_application",
        target_id=application.id,
        approved=approve,
        commission_bp=commission_bp,
    )
    return application


async def leader_points(session: AsyncSession, actor: Actor) -> Sequence[PickupPoint]:
    """The pickup points the acting user runs as a leader."""
    return (await session.scalars(policies.led_points(actor).order_by(PickupPoint.id))).all()

"""JSON routes: communities, pickup points, residences and leader applications."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from linli.apitypes import PathId, RegionCode
from linli.authz import (
    COMMUNITY_MANAGE,
    PLATFORM_REVIEW,
    Actor,
    require,
    require_scope,
)
from linli.community import service
from linli.community.models import Community, Residence
from linli.community.schemas import (
    CommunityIn,
    CommunityOut,
    LeaderApplicationIn,
    LeaderApplicationOut,
    LeaderDecisionIn,
    PickupPointOut,
    ResidenceIn,
    ResidenceOut,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/community", tags=["community"], responses=ERROR_RESPONSES)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
CommunityManager = Annotated[Actor, Depends(require(COMMUNITY_MANAGE))]
Reviewer = Annotated[Actor, Depends(require(PLATFORM_REVIEW))]
ApplicationReader = Annotated[Actor, Depends(require_scope("resident", "platform"))]
ApplicationStatus = Literal["submitted", "approved", "rejected"]


def present_point(view: service.PointView) -> PickupPointOut:
    """The pickup point and the name of the leader who runs it."""
    return PickupPointOut.from_row(view.point, leader_name=view.leader_name)


async def present_community(session: DbSession, community: Community) -> CommunityOut:
    """The community (coordinates in degrees, stored in millionths) and its pickup points."""
    points = await service.pickup_points(session, community.id)
    return CommunityOut.from_row(
        community,
        latitude=community.latitude_e6 / service.MICRO,
        longitude=community.longitude_e6 / service.MICRO,
        pickup_points=[present_point(v) for v in points],
    )


@router.get("/communities", summary="Find communities (public)")
async def communities(
    session: DbSession,
    q: Annotated[str, Query(max_length=80)] = "",
    district: Annotated[RegionCode | None, Query()] = None,
) -> list[CommunityOut]:
    rows = await service.search_communities(session, q=q.strip(), district_code=district)
    return [await present_community(session, row) for row in rows]


@router.post("/communities", status_code=201, summary="Create a community (platform)")
async def create_community(
    body: CommunityIn, session: DbSession, actor: CommunityManager
) -> CommunityOut:
    return await present_community(session, await service.create_community(session, actor, body))


@router.get("/communities/{community_id}", summary="One community and its pickup points")
async def community(community_id: PathId, session: DbSession) -> CommunityOut:
    return await present_community(session, await service.get_community(session, community_id))


@router.get("/me/residence", summary="My community and default pickup point")
async def my_residence(session: DbSession, actor: Resident) -> ResidenceOut | None:
    residence = await service.my_residence(session, actor)
    if residence is None:
        return None
    return await present_residence(session, residence)


async def present_residence(session: DbSession, residence: Residence) -> ResidenceOut:
    """Where I live: the community's name and the pickup point chosen there."""
    community = await service.get_community(session, residence.community_id)
    views = await service.pickup_points(session, community.id)
    view = next(v for v in views if v.point.id == residence.pickup_point_id)
    return ResidenceOut.from_row(
        residence, community_name=community.name, pickup_point=present_point(view)
    )


@router.put("/me/residence", summary="Join a community and choose my pickup point")
async def set_residence(body: ResidenceIn, session: DbSession, actor: Resident) -> ResidenceOut:
    residence = await service.join(
        session, actor, community_id=body.community_id, pickup_point_id=body.pickup_point_id
    )
    return await present_residence(session, residence)


@router.post("/leader-applications", status_code=201, summary="Apply to run a pickup point")
async def apply_as_leader(
    body: LeaderApplicationIn, session: DbSession, actor: Resident
) -> LeaderApplicationOut:
    return LeaderApplicationOut.model_validate(await service.apply_as_leader(session, actor, body))


@router.get(
    "/leader-applications", summary="Leader applications: mine, or every one for platform reviewers"
)
async def leader_applications(
    session: DbSession,
    actor: ApplicationReader,
    status: Annotated[ApplicationStatus | None, Query()] = None,
) -> list[LeaderApplicationOut]:
    rows = await service.leader_applications(session, actor, status=status)
    return [LeaderApplicationOut.model_validate(r) for r in rows]


@router.post(
    "/leader-applications/{application_id}/decision",
    summary="Approve (with a commission rate) or reject (platform reviewers)",
)
async def decide_leader(
    application_id: PathId, body: LeaderDecisionIn, session: DbSession, actor: Reviewer
) -> LeaderApplicationOut:
    row = await service.decide_leader(
        session,
        actor,
        application_id,
        approve=body.approve,
        commission_bp=body.commission_bp,
        reason=body.reason,
    )
    return LeaderApplicationOut.model_validate(row)

"""The community's part of a resident's personal data (linli.personal_data, docs/privacy.md):
where they live and pick up, and whether they lead a point, for the export; a leader of an
open pickup point hands it over before closing; the residence goes when the account closes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.community.models import Community, Leader, LeaderApplication, PickupPoint, Residence
from linli.i18n import N_, Message
from linli.reviews import ReviewStatus


async def export_community(session: AsyncSession, user_id: int) -> dict[str, Any]:
    residence = (
        await session.execute(
            select(Residence, Community.name, PickupPoint.name, PickupPoint.address)
            .join(Community, Community.id == Residence.community_id)
            .join(PickupPoint, PickupPoint.id == Residence.pickup_point_id)
            .where(Residence.user_id == user_id)
        )
    ).first()
    leader = await session.get(Leader, user_id)
    applications = await session.scalars(
        select(LeaderApplication)
        .where(LeaderApplication.user_id == user_id)
        .order_by(LeaderApplication.id)
    )
    points = await session.scalars(
        select(PickupPoint).where(PickupPoint.leader_user_id == user_id).order_by(PickupPoint.id)
    )
    return {
        "residence": (
            {
                "community_id": residence[0].community_id,
                "community": residence[1],
                "pickup_point_id": residence[0].pickup_point_id,
                "pickup_point": residence[2],
                "pickup_point_address": residence[3],
                "joined_at": residence[0].joined_at,
            }
            if residence is not None
            else None
        ),
        "leader": (
            {
                "commission_bp": leader.commission_bp,
                "approved_at": leader.approved_at,
                "active": leader.active,
            }
            if leader is not None
            else None
        ),
        "led_pickup_points": [
            {"id": p.id, "name": p.name, "address": p.address, "active": p.active} for p in points
        ],
        "leader_applications": [
            {
                "id": a.id,
                "community_id": a.community_id,
                "point_name": a.point_name,
                "point_address": a.point_address,
                "opening_hours": a.opening_hours,
                "daily_capacity": a.daily_capacity,
                "motivation": a.motivation,
                "status": a.status,
                "decision_reason": a.decision_reason,
                "created_at": a.created_at,
                "reviewed_at": a.reviewed_at,
            }
            for a in applications
        ],
    }


async def led_points(session: AsyncSession, user_id: int) -> list[Message]:
    """A pickup point the resident leads is handed over first; an application to lead one is
    answered first (approving it would make a closed account a leader)."""
    found: list[Message] = []
    names = list(
        await session.scalars(
            select(PickupPoint.name)
            .where(PickupPoint.leader_user_id == user_id, PickupPoint.active.is_(True))
            .order_by(PickupPoint.name)
        )
    )
    if names:
        found.append(
            Message(
                N_("You lead the pickup point {points}: ask the platform to hand it over first."),
                {"points": ", ".join(names)},
            )
        )
    pending = await session.scalar(
        select(LeaderApplication.id).where(
            LeaderApplication.user_id == user_id,
            LeaderApplication.status == ReviewStatus.SUBMITTED,
        )
    )
    if pending is not None:
        found.append(
            Message(N_("Your application to lead a pickup point is still being reviewed."))
        )
    return found


async def forget_residence(session: AsyncSession, user_id: int) -> None:
    """Where a resident lives and picks up is personal data, not a transaction record; so are
    the motivation of a leader application and the address of a point that never opened (it
    may be their home). An approved application's address is a public pickup point's."""
    await session.execute(delete(Residence).where(Residence.user_id == user_id))
    await session.execute(
        update(LeaderApplication).where(LeaderApplication.user_id == user_id).values(motivation="")
    )
    await session.execute(
        update(LeaderApplication)
        .where(
            LeaderApplication.user_id == user_id,
            LeaderApplication.status != ReviewStatus.APPROVED,
        )
        .values(point_address="")
    )


personal_data.provide_export_section("community", export_community)
personal_data.provide_open_obligations("community", led_points)
personal_data.provide_on_close("community", forget_residence)

"""The community's face for other domains: pickup points as read models, who leads them, and
the SQL conditions other domains put in their own statements (an open point, a resident's
home point, whether a user leads a point). Other domains never read community tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Exists, ScalarSelect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from linli.accounts import identity
from linli.community.models import Leader, PickupPoint, Residence

Column = ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True)
class Point:
    id: int
    community_id: int
    name: str
    address: str
    opening_hours: str
    daily_capacity: int
    leader_user_id: int | None
    active: bool


def _point(row: PickupPoint) -> Point:
    return Point(
        id=row.id,
        community_id=row.community_id,
        name=row.name,
        address=row.address,
        opening_hours=row.opening_hours,
        daily_capacity=row.daily_capacity,
        leader_user_id=row.leader_user_id,
        active=row.active,
    )


async def point(session: AsyncSession, point_id: int) -> Point | None:
    row = await session.get(PickupPoint, point_id)
    return _point(row) if row is not None else None


async def points(session: AsyncSession, point_ids: Iterable[int]) -> dict[int, Point]:
    wanted = set(point_ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(PickupPoint).where(PickupPoint.id.in_(wanted)))
    return {row.id: _point(row) for row in rows}


def _led() -> Any:
    return select(PickupPoint).join(Leader, Leader.user_id == PickupPoint.leader_user_id)


async def points_led_by(session: AsyncSession, user_id: int) -> list[Point]:
    """The points the user leads as an active leader, in id order."""
    rows = await session.scalars(
        _led()
        .where(PickupPoint.leader_user_id == user_id, Leader.active.is_(True))
        .order_by(PickupPoint.id)
    )
    return [_point(row) for row in rows]


async def point_led_by(session: AsyncSession, user_id: int, point_id: int) -> Point | None:
    """The point, if the user leads it as an active leader."""
    row = await session.scalar(
        _led().where(
            PickupPoint.id == point_id,
            PickupPoint.leader_user_id == user_id,
            Leader.active.is_(True),
        )
    )
    return _point(row) if row is not None else None


async def leader_of(session: AsyncSession, point_id: int) -> int | None:
    """The user id of the point's leader (active or not), or None."""
    leader = await session.scalar(
        select(PickupPoint.leader_user_id).where(PickupPoint.id == point_id)
    )
    return int(leader) if leader is not None else None


async def commission_bp(session: AsyncSession, leader_user_id: int) -> int | None:
    """The leader's commission in basis points, or None when the user is no leader."""
    value = await session.scalar(
        select(Leader.commission_bp).where(Leader.user_id == leader_user_id)
    )
    return int(value) if value is not None else None


# --- conditions other domains put in their own statements ---------------------------------


def leads_a_point(user_id: Column) -> Exists:
    """Whether the user leads a pickup point as an active leader."""
    return (
        select(PickupPoint.id)
        .join(Leader, Leader.user_id == PickupPoint.leader_user_id)
        .where(PickupPoint.leader_user_id == user_id, Leader.active.is_(True))
        .exists()
    )


def home_point_id(user_id: int) -> ScalarSelect[Any]:
    """The pickup point of the resident's residence."""
    return select(Residence.pickup_point_id).where(Residence.user_id == user_id).scalar_subquery()


def open_point_id(point_id: Any) -> ScalarSelect[Any]:
    """`point_id` if it names an open pickup point, else NULL."""
    return (
        select(PickupPoint.id)
        .where(PickupPoint.id == point_id, PickupPoint.active.is_(True))
        .scalar_subquery()
    )


def name_of_point(point_id: Column) -> ScalarSelect[Any]:
    """The point's name (a correlated subquery)."""
    return select(PickupPoint.name).where(PickupPoint.id == point_id).scalar_subquery()


identity.provide_leads_condition(leads_a_point)


async def point_ids_of_community(session: AsyncSession, community_id: int) -> list[int]:
    """Every pickup point of a community (open or not)."""
    rows = await session.scalars(
        select(PickupPoint.id).where(PickupPoint.community_id == community_id)
    )
    return list(rows)

"""Communities, their pickup points, group leaders (团长) and where residents pick up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime
from linli.reviews import ReviewStatus

MAX_COMMISSION_BP = 3000  # 30 %: no leader commission above this is plausible


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    province_code: Mapped[str] = mapped_column(String(6))
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    address: Mapped[str] = mapped_column(String(200))
    # Micro-degrees (WGS-84 x 1e6) as integers: exact, comparable, no float drift.
    latitude_e6: Mapped[int]
    longitude_e6: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PickupPoint(Base):
    __tablename__ = "pickup_points"
    __table_args__ = (CheckConstraint("daily_capacity > 0", name="capacity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200))
    opening_hours: Mapped[str] = mapped_column(String(40))  # e.g. "08:00-20:00"
    daily_capacity: Mapped[int]
    leader_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Leader(Base):
    """A resident approved to run a pickup point, and the commission they earn."""

    __tablename__ = "leaders"
    __table_args__ = (
        CheckConstraint(
            f"commission_bp >= 0 AND commission_bp <= {MAX_COMMISSION_BP}", name="commission"
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    commission_bp: Mapped[int]  # basis points of the goods value picked up
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class LeaderApplication(Base):
    __tablename__ = "leader_applications"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name="status"),
        Index("ix_leader_applications_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    point_name: Mapped[str] = mapped_column(String(80))
    point_address: Mapped[str] = mapped_column(String(200))
    opening_hours: Mapped[str] = mapped_column(String(40))
    daily_capacity: Mapped[int]
    motivation: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=ReviewStatus.SUBMITTED)
    commission_bp: Mapped[int | None]
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pickup_point_id: Mapped[int | None] = mapped_column(
        ForeignKey("pickup_points.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Residence(Base):
    """The community a resident belongs to and their default pickup point (one at a time)."""

    __tablename__ = "residences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)

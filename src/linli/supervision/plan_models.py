"""Double random, one public (双随机一公开): inspection plans, the targets and inspectors drawn
for them, the results and their evidence (docs/supervision-inspections.md).

A plan's seed is fixed when the plan is created; the draw is stored once, with the inputs it
was drawn from (the directory of merchants and their risk classes, the inspectors, the
conflicts of interest), so that anyone holding the plan can recompute it and get the same
targets and inspectors.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class PlanStatus(StrEnum):
    PLANNED = "planned"  # the seed is fixed; nothing drawn yet
    DRAWN = "drawn"  # targets and inspectors drawn and stored (once)


class InspectionType(StrEnum):
    GENERAL = "general"
    FOOD_SAFETY = "food_safety"
    PRICING = "pricing"
    PRODUCT_QUALITY = "product_quality"
    LICENSING = "licensing"


class InspectionResult(StrEnum):
    PASSED = "passed"
    ISSUES_FOUND = "issues_found"
    FAILED = "failed"


def _in(column: str, values: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    condition = f"{column} IN ({listed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=column)


class InspectionPlan(Base):
    __tablename__ = "supervision_inspection_plans"
    __table_args__ = (
        _in("status", PlanStatus),
        _in("inspection_type", InspectionType),
        Index("ix_supervision_inspection_plans_regulator", "regulator_organisation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    regulator_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(120))
    inspection_type: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    target_count: Mapped[int] = mapped_column(Integer)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    rule_values: Mapped[dict[str, Any]] = mapped_column(JSONData)  # as in force at creation
    seed: Mapped[str] = mapped_column(String(64))  # fixed at creation, never changed
    status: Mapped[str] = mapped_column(String(10), default=PlanStatus.PLANNED)
    # What the draw was computed from (merchants with classes, inspectors, conflicts, shares).
    draw_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONData)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InspectionTarget(Base):
    """A merchant drawn for a plan, with its result once recorded (then public)."""

    __tablename__ = "supervision_inspection_targets"
    __table_args__ = (
        _in("result", InspectionResult, nullable=True),
        UniqueConstraint("plan_id", "merchant_organisation_id"),
        Index("ix_supervision_inspection_targets_published", "published_at"),
        Index("ix_supervision_inspection_targets_merchant", "merchant_organisation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_inspection_plans.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)  # order of the draw
    merchant_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    risk_class: Mapped[str] = mapped_column(String(1))  # regulator-only, never published
    result: Mapped[str | None] = mapped_column(String(14))
    findings: Mapped[str | None] = mapped_column(Text)
    inspected_on: Mapped[date | None] = mapped_column(Date)
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InspectionAssignment(Base):
    """An inspector drawn for a target (two per target by default). Also the plan history the
    conflict-of-interest check reads: an inspector who was drawn for a merchant before is not
    drawn for it again."""

    __tablename__ = "supervision_inspection_assignments"
    __table_args__ = (
        UniqueConstraint("target_id", "inspector_user_id"),
        Index(
            "ix_supervision_inspection_assignments_history",
            "inspector_user_id",
            "merchant_organisation_id",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_inspection_targets.id", ondelete="CASCADE")
    )
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_inspection_plans.id", ondelete="CASCADE")
    )
    merchant_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    inspector_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class InspectionEvidence(Base):
    """A file attached to an inspection result (through the upload checks)."""

    __tablename__ = "supervision_inspection_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_inspection_targets.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    note: Mapped[str | None] = mapped_column(Text)
    added_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

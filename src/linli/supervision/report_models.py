"""Reports of suspected violations by residents and group leaders (multi-party governance,
docs/supervision-reports.md): the platform triages each (forward to the regulator with
jurisdiction over the merchant, or close with reasons); the regulator acknowledges it and
records an outcome. The reporter sees the status of their own reports only.

The regulator may open one case from a report (`supervision_cases.report_id`); the reporter
then sees that case's status, nothing else of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class ReportStatus(StrEnum):
    SUBMITTED = "submitted"  # waiting for the platform's triage
    FORWARDED = "forwarded"  # to the regulator with jurisdiction
    CLOSED = "closed"  # by the platform, with reasons
    ACKNOWLEDGED = "acknowledged"  # the regulator took it up
    CONCLUDED = "concluded"  # the regulator recorded its outcome


class ReporterRole(StrEnum):
    RESIDENT = "resident"
    LEADER = "leader"


def _in(column: str, values: type[StrEnum]) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Report(Base):
    __tablename__ = "supervision_reports"
    __table_args__ = (
        _in("status", ReportStatus),
        _in("reporter_role", ReporterRole),
        Index("ix_supervision_reports_reporter", "reporter_user_id", "id"),
        Index("ix_supervision_reports_status", "status", "id"),
        Index("ix_supervision_reports_regulator", "regulator_organisation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reporter_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reporter_role: Mapped[str] = mapped_column(String(10))
    merchant_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_orders.id"))
    product_name: Mapped[str | None] = mapped_column(String(120))  # as the reporter names it
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(14), default=ReportStatus.SUBMITTED)
    regulator_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    close_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    triaged_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    concluded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class ReportPhoto(Base):
    """A photo attached to a report by its reporter (through the upload checks, without
    location metadata since the platform and the regulator see it)."""

    __tablename__ = "supervision_report_photos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_reports.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

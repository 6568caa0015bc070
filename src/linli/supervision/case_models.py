"""Supervision cases: from an alert (or a report) to a decision, with a complete timeline
(docs/supervision.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime

# statuses
INVESTIGATING = "investigating"
RECTIFYING = "rectifying"  # ordered to rectify, before its deadline
OVERDUE = "overdue"  # the rectification deadline passed unfulfilled
CLOSED = "closed"
CASE_STATUSES = (INVESTIGATING, RECTIFYING, OVERDUE, CLOSED)

# decisions
NO_VIOLATION = "no_violation"
WARNING = "warning"
RECTIFY = "rectify"
PENALTY = "penalty"
DECISIONS = (NO_VIOLATION, WARNING, RECTIFY, PENALTY)


class Case(Base):
    __tablename__ = "supervision_cases"
    __table_args__ = (
        Index("ix_supervision_cases_regulator", "regulator_organisation_id", "status"),
        Index("ix_supervision_cases_inspector", "inspector_user_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    regulator_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("supervision_alerts.id"))
    # the forwarded report the case was opened from (one case per report; migration 0027)
    report_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("supervision_reports.id"), unique=True
    )
    source: Mapped[str] = mapped_column(String(10))  # alert | report
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(15), default=INVESTIGATING)
    inspector_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    opened_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(15))
    penalty_fen: Mapped[int | None]
    legal_basis: Mapped[str | None] = mapped_column(String(500))
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_summary: Mapped[str | None] = mapped_column(Text)  # public for penalties
    rectify_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseEntry(Base):
    """One step of a case's timeline; `internal` notes stay inside the authority."""

    __tablename__ = "supervision_case_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # opened|assigned|task|finding|decided|...
    text: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean, default=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # On an "assigned" entry, the inspector given the case: every inspector a case ever had
    # stays conflicted for the merchant in random draws, not only the current one.
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)

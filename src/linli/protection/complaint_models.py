"""Complaints, 12315 style (docs/protection-complaints.md): the case, its timeline and the
files attached to it.

The timeline is history: a step is appended for everything that happens to a complaint (who,
when, what) and never edited. The complaint row holds the current status and clocks, each
clock with the rule id and version and the working-day calendar it was counted with.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class ComplaintTarget(StrEnum):
    """What the resident complains about: something of one of their own orders, or one of
    their own service bookings or course enrolments."""

    ORDER = "order"
    MERCHANT = "merchant"  # the order's merchant
    LEADER = "leader"  # the leader of the order's pickup point
    PRODUCT = "product"  # a line of the order
    # online services (docs/services.md): the provider organisation is the subject
    BOOKING = "booking"  # one of the client's booked sessions
    COURSE = "course"  # one of the client's course enrolments


class Decider(StrEnum):
    """Who decides: the platform's operators (platform-level disputes) or the regulator
    whose jurisdiction covers the merchant."""

    PLATFORM = "platform"
    REGULATOR = "regulator"


class ComplaintStatus(StrEnum):
    FILED = "filed"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    IN_MEDIATION = "in_mediation"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    MEDIATED = "mediated"  # the parties agreed (the agreement text is kept)
    UPHELD = "upheld"
    REJECTED = "rejected"  # with reasons
    WITHDRAWN = "withdrawn"  # by the complainant, before resolution
    # The mediation limit (45 working days from acceptance) passed without agreement: the
    # due job closes the case (SAMR Order 20 art. 27: mediation ends without agreement).
    NOT_MEDIATED = "not_mediated"


class Role(StrEnum):
    """In which capacity someone acted on a complaint (shown on the timeline)."""

    COMPLAINANT = "complainant"
    MERCHANT = "merchant"
    LEADER = "leader"
    PLATFORM = "platform"
    REGULATOR = "regulator"
    SYSTEM = "system"  # a due job


class StepKind(StrEnum):
    FILED = "filed"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    MEDIATION_STARTED = "mediation_started"
    MESSAGE = "message"
    ATTACHMENT = "attachment"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ACCEPTANCE_OVERDUE = "acceptance_overdue"


def _in(column: str, values: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    condition = f"{column} IN ({listed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=column)


class Complaint(Base):
    __tablename__ = "protection_complaints"
    __table_args__ = (
        _in("target", ComplaintTarget),
        _in("decider", Decider),
        _in("status", ComplaintStatus),
        _in("outcome", Outcome, nullable=True),
        Index("ix_protection_complaints_complainant", "complainant_user_id", "filed_at"),
        Index("ix_protection_complaints_subject", "subject_organisation_id", "filed_at"),
        Index("ix_protection_complaints_regulator", "regulator_organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complainant_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(10))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_orders.id"), index=True)
    # online services: the booking or the enrolment complained about (product_name holds
    # the session's or the course's title)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("services_bookings.id"), index=True)
    enrolment_id: Mapped[int | None] = mapped_column(
        ForeignKey("services_enrolments.id"), index=True
    )
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_order_lines.id"))
    product_name: Mapped[str | None] = mapped_column(String(120))
    # The order's merchant (a service's provider), whatever the target (what credit and
    # supervision count against); a party to the complaint unless it is about the leader.
    subject_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    subject_leader_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_points.id"))
    text: Mapped[str] = mapped_column(Text)
    decider: Mapped[str] = mapped_column(String(10))
    regulator_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    # The platform decided (or decides) it: operators keep seeing a case escalated from them.
    platform_involved: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(14), default=ComplaintStatus.FILED)
    outcome: Mapped[str | None] = mapped_column(String(14))
    outcome_text: Mapped[str | None] = mapped_column(Text)  # agreement, reasons
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    # Clocks: rule consumer.complaint at this version, counted on this calendar.
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    calendar: Mapped[str] = mapped_column(String(120))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # escalation restarts it
    accept_by: Mapped[datetime] = mapped_column(UTCDateTime)
    acceptance_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mediation_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # refused or resolved
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplaintStep(Base):
    """One step of a complaint's timeline (append-only)."""

    __tablename__ = "protection_complaint_steps"
    __table_args__ = (
        _in("kind", StepKind),
        _in("role", Role),
        Index("ix_protection_complaint_steps_complaint", "complaint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("protection_complaints.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(12))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(14))  # the complaint's status after the step
    text: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

"""The credit ledger and what is kept from it (docs/credit.md).

`credit_records` is append-only: the ORM refuses to update or delete a record and, on
PostgreSQL, a trigger (migration 0020) refuses it in the database. Only the event handlers of
`linli.credit.handlers` write records. `credit_periods` sums each subject's points per decay
period (added to as records come, so a score never rereads the ledger) and `credit_scores`
keeps the score and grade computed when the last record came; both can be rebuilt from the
ledger alone (`ledger.rebuild`), and give the same numbers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class SubjectKind(StrEnum):
    """Whose credit: an organisation (merchant) or a user (as a group leader, as a resident)."""

    MERCHANT = "merchant"
    LEADER = "leader"
    RESIDENT = "resident"


class RecordKind(StrEnum):
    """What happened; the rule `credit.scoring` weighs each kind per subject kind."""

    ORDER_DELIVERED = "order_delivered"
    PICKUP_HANDED_OVER = "pickup_handed_over"
    ORDER_COLLECTED = "order_collected"
    ORDER_UNCOLLECTED = "order_uncollected"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    INSPECTION_FAILED = "inspection_failed"
    BATCH_RECALLED = "batch_recalled"
    RETURN_REFUND_OVERDUE = "return_refund_overdue"
    RETURN_REFUNDED = "return_refunded"
    COMPLAINT_UPHELD = "complaint_upheld"
    COMPLAINT_MEDIATED = "complaint_mediated"
    # supervision (rule version 2): a regulator's decisions and the rectifications they order
    PENALTY_SERIOUS = "penalty_serious"
    PENALTY = "penalty"
    WARNING = "warning"
    RECTIFICATION_OVERDUE = "rectification_overdue"
    RECTIFIED_ON_TIME = "rectified_on_time"
    # rule version 3: quality claims, abusive claims, random inspections, pay-later bills
    QUALITY_CLAIM_UPHELD = "quality_claim_upheld"
    QUALITY_CLAIM_PARTLY = "quality_claim_partly"
    CLAIM_ABUSE_CONFIRMED = "claim_abuse_confirmed"
    SPOT_CHECK_PASSED = "spot_check_passed"
    SPOT_CHECK_ISSUES = "spot_check_issues"
    SPOT_CHECK_FAILED = "spot_check_failed"
    PAY_LATER_REPAID = "pay_later_repaid"
    PAY_LATER_OVERDUE = "pay_later_overdue"
    # rule version 4: online services (a client's no-show, a provider's cancellation)
    SERVICE_NO_SHOW = "service_no_show"
    SERVICE_CANCELLED_BY_PROVIDER = "service_cancelled_by_provider"
    # rule version 5: a paid live order its merchant cancelled before shipment
    LIVE_ORDER_CANCELLED_BY_MERCHANT = "live_order_cancelled_by_merchant"


def _within(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"


class CreditRecord(Base):
    """One fact that counts for one subject's credit, with the event that told it and the rule
    (id, version) and weight it was counted with. Never updated, never deleted."""

    __tablename__ = "credit_records"
    __table_args__ = (
        # An event counts once per subject and kind, however often it is delivered.
        UniqueConstraint("event_id", "subject_kind", "subject_id", "kind"),
        CheckConstraint(_within("subject_kind", SubjectKind), name="subject_kind"),
        CheckConstraint(_within("kind", RecordKind), name="kind"),
        Index("ix_credit_records_subject", "subject_kind", "subject_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str] = mapped_column(String(60))  # what it is about: "order:12"
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CreditPeriod(Base):
    """A subject's points per decay period (the sum of its records' weights there)."""

    __tablename__ = "credit_periods"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id", "period"),
        CheckConstraint(_within("subject_kind", SubjectKind), name="subject_kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int] = mapped_column(BigId)
    period: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    records: Mapped[int] = mapped_column(Integer)


class CreditScore(Base):
    """A subject's score and public grade as computed when its last record came."""

    __tablename__ = "credit_scores"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id"),
        CheckConstraint(_within("subject_kind", SubjectKind), name="subject_kind"),
        CheckConstraint("score >= 0 AND score <= 1000", name="score_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int] = mapped_column(BigId)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(4))
    records: Mapped[int] = mapped_column(Integer)
    rule_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise RuntimeError("credit records are never changed or deleted (the ledger is append-only)")


event.listen(CreditRecord, "before_update", _refuse_change)
event.listen(CreditRecord, "before_delete", _refuse_change)

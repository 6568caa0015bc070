"""Pick up first, pay later (先提后付): a resident's facility, monthly bills and the charges
on them (docs/pay-later.md). Written only by `credit.pay_later` (the facility, charges,
bills, the due jobs) and `credit.pay_later_handlers` (refunds and repayments from payments'
events)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class AccountState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class BillStatus(StrEnum):
    OPEN = "open"  # charges may still come, or not yet paid in full
    PAID = "paid"
    OVERDUE = "overdue"  # unpaid after its due date and grace days


class PayLaterAccount(Base):
    """A resident's facility. `used_fen` is what the resident owes on all bills (charges less
    refunds and repayments; below zero when a refund came after its bill was paid); a charge
    is taken only by the conditional UPDATE `used_fen + amount <= limit` on this row."""

    __tablename__ = "pay_later_accounts"
    __table_args__ = (
        UniqueConstraint("user_id"),
        CheckConstraint("state IN ('active', 'suspended')", name="state_known"),
        CheckConstraint("limit_fen >= 0", name="limit_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId)
    state: Mapped[str] = mapped_column(String(16))
    # the limit computed from the score at the last charge (or opening)
    limit_fen: Mapped[int] = mapped_column(BigInteger)
    used_fen: Mapped[int] = mapped_column(BigInteger)
    rule_version: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PayLaterBill(Base):
    """One month's charges of a resident, due on `due_at` (the end of the due day, Shanghai);
    overdue from `overdue_at` (plus the grace days) when not paid in full."""

    __tablename__ = "pay_later_bills"
    __table_args__ = (
        UniqueConstraint("user_id", "period"),
        CheckConstraint("status IN ('open', 'paid', 'overdue')", name="status_known"),
        CheckConstraint("paid_fen >= 0", name="paid_not_negative"),
        Index("ix_pay_later_bills_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId)
    period: Mapped[str] = mapped_column(String(7))  # "2026-12"
    due_date: Mapped[str] = mapped_column(String(10))  # ISO date, Asia/Shanghai
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    overdue_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # charges less refunds
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    rule_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overdue_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PayLaterCharge(Base):
    """One payment intent settled on the facility (an order), on the bill of its month."""

    __tablename__ = "pay_later_charges"
    __table_args__ = (
        UniqueConstraint("intent_id"),
        Index("ix_pay_later_charges_bill", "bill_id"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_bounded"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId)
    bill_id: Mapped[int] = mapped_column(BigId)
    intent_id: Mapped[int] = mapped_column(BigId)
    intent_public_id: Mapped[str] = mapped_column(String(36))
    purpose: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(80))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

"""Payment intents, refunds, provider callbacks (append-only) and the double-entry ledger.

Money is integer fen. The ledger tables and the callback log are append-only: the ORM refuses
to update or delete their rows (see `_refuse_changes`), and no service function does either.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime
from linli.payments.reasons import RefundReason, sql_check


class IntentStatus(StrEnum):
    CREATED = "created"
    SUCCEEDED = "succeeded"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


CREATED, SUCCEEDED = IntentStatus.CREATED, IntentStatus.SUCCEEDED
CANCELLED, EXPIRED = IntentStatus.CANCELLED, IntentStatus.EXPIRED
REFUND_PENDING, REFUND_SUCCEEDED, REFUND_FAILED = (
    RefundStatus.PENDING,
    RefundStatus.SUCCEEDED,
    RefundStatus.FAILED,
)
Fen = BigInteger()


class PaymentIntent(Base):
    """What a payer owes a payee for something another domain names by (purpose, reference)."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        CheckConstraint(
            "status IN ('created', 'succeeded', 'cancelled', 'expired')", name="status"
        ),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_within_amount"
        ),
        UniqueConstraint("payer_user_id", "idempotency_key"),
        Index("ix_payment_intents_purpose_reference", "purpose", "reference"),
        Index("ix_payment_intents_payee", "payee_organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    payer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    payee_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(80))
    amount_fen: Mapped[int] = mapped_column(Fen)
    refunded_fen: Mapped[int] = mapped_column(Fen, default=0)
    status: Mapped[str] = mapped_column(String(12), default=CREATED)
    provider: Mapped[str] = mapped_column(String(20))
    provider_txn_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentRefund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(sql_check("reason_code"), name="reason_code"),
        UniqueConstraint("intent_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("payment_intents.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    reason: Mapped[str] = mapped_column(String(200))
    reason_code: Mapped[RefundReason] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(12), default=REFUND_PENDING)
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentCallback(Base):
    """Every notification a provider sent us, valid or not, with what we made of it."""

    __tablename__ = "payment_callbacks"
    __table_args__ = (Index("ix_payment_callbacks_notification", "provider", "notification_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    signature_valid: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(30))
    notification_id: Mapped[str | None] = mapped_column(String(64))
    intent_public_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    amount_fen: Mapped[int | None] = mapped_column(Fen)
    body: Mapped[str] = mapped_column(Text)  # as received (truncated), for investigation


class LedgerEntry(Base):
    """A journal entry: postings that sum to zero. (kind, reference) is unique, so the same
    business fact (a payment, a refund, a settlement) cannot be booked twice."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("kind", "reference"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerPosting(Base):
    """One line of an entry: positive amounts debit the account, negative ones credit it."""

    __tablename__ = "ledger_postings"
    __table_args__ = (CheckConstraint("amount_fen <> 0", name="amount_nonzero"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(100), index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)


def _refuse_changes(_mapper: Any, _connection: Any, target: Any) -> None:
    raise RuntimeError(f"{type(target).__name__} rows are append-only")


for _model in (LedgerEntry, LedgerPosting, PaymentCallback):
    event.listen(_model, "before_update", _refuse_changes)
    event.listen(_model, "before_delete", _refuse_changes)

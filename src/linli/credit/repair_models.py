"""A merchant's requests to the regulator that decided: the repair of a published penalty,
or the early removal of a serious-dishonesty list entry (docs/credit.md "Lists and repair")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class RequestKind(StrEnum):
    REPAIR = "repair"  # of a published penalty (rule credit.repair)
    REMOVAL = "removal"  # early, from the serious-dishonesty list (rule credit.lists)


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


def _within(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"


class CreditRequest(Base):
    __tablename__ = "credit_requests"
    __table_args__ = (
        CheckConstraint(_within("kind", RequestKind), name="kind"),
        CheckConstraint(_within("status", RequestStatus), name="status"),
        Index("ix_credit_requests_organisation", "organisation_id", "created_at"),
        Index("ix_credit_requests_regulator", "regulator_organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))
    # the published penalty (repair) or the list entry (removal) asked about
    target_id: Mapped[int] = mapped_column(BigId)
    case_id: Mapped[int] = mapped_column(BigId)
    organisation_id: Mapped[int] = mapped_column(BigId)
    regulator_organisation_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(10))
    statement: Mapped[str] = mapped_column(Text)  # the merchant's: what it did
    applied_by_user_id: Mapped[int] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    decided_by_user_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reasons: Mapped[str | None] = mapped_column(Text, nullable=True)

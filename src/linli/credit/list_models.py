"""Published penalties and the serious-dishonesty list (docs/credit.md "Lists and repair").

Both are written only by credit's handlers of supervision's `CaseDecided` (no route creates
one); a regulator's decision on a request (`repair_models.CreditRequest`) ends a penalty's
publication (repair) or a list entry early (removal), with its reasons.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class PublishedPenalty(Base):
    """A penalty decision shown with the merchant's public credit from `decided_at` until
    `publish_until` (rule `credit.repair`), or until repaired (`repaired_at`)."""

    __tablename__ = "credit_penalties"
    __table_args__ = (
        UniqueConstraint("case_id"),
        Index("ix_credit_penalties_organisation", "organisation_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId)
    organisation_id: Mapped[int] = mapped_column(BigId)
    regulator_organisation_id: Mapped[int] = mapped_column(BigId)
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    serious: Mapped[bool] = mapped_column(Boolean)
    legal_basis: Mapped[str] = mapped_column(Text)
    rectify_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    publish_until: Mapped[datetime] = mapped_column(UTCDateTime)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    # what the merchant fulfilled (supervision's RectificationFulfilled)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # an approved repair (the request that decided it)
    repaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    repair_request_id: Mapped[int | None] = mapped_column(BigId, nullable=True)


class SeriousListEntry(Base):
    """An entry of the serious-dishonesty list: made by one serious penalty decision (its
    case), published from `listed_at` until `listed_until`, or removed early by a decision."""

    __tablename__ = "credit_serious_list"
    __table_args__ = (
        UniqueConstraint("case_id"),
        Index("ix_credit_serious_list_organisation", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId)
    organisation_id: Mapped[int] = mapped_column(BigId)
    regulator_organisation_id: Mapped[int] = mapped_column(BigId)
    legal_basis: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    listed_until: Mapped[datetime] = mapped_column(UTCDateTime)
    removable_from: Mapped[datetime] = mapped_column(UTCDateTime)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removal_request_id: Mapped[int | None] = mapped_column(BigId, nullable=True)

"""A closed account: when it closed, until when its transaction records are kept, and under
which version of rule `privacy.retention`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, UTCDateTime


class AccountClosure(Base):
    __tablename__ = "privacy_account_closures"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The completion of the last transaction record (orders, payments, refunds, returns,
    # complaints); None when the resident never bought anything.
    last_transaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int] = mapped_column(Integer)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

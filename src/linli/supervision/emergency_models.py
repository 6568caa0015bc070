"""Emergency declarations: named categories, a region and a window in which price rules
tighten (docs/supervision.md). Public once declared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class EmergencyDeclaration(Base):
    __tablename__ = "supervision_emergencies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    regulator_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    categories: Mapped[list[Any]] = mapped_column(JSONData)  # category codes
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Prices in force at this moment are the pre-emergency reference (default: starts_at).
    reference_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    merchants_notified: Mapped[int] = mapped_column(default=0)

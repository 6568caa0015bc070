"""Declared relations between inspectors and merchants (conflicts of interest).

An inspector is a member of a regulator organisation holding SUPERVISION_INSPECT
(`supervision.inspectors`); nobody is assigned a case, or drawn for an inspection, of a
merchant they declared a relation with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class InspectorConflict(Base):
    __tablename__ = "supervision_inspector_conflicts"
    __table_args__ = (UniqueConstraint("inspector_user_id", "merchant_organisation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    regulator_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    inspector_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    merchant_organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String(500))
    declared_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)

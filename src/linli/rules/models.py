"""Configurable legal and platform rules, kept as versioned data (never literals in code)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class RuleVersion(Base):
    """One version of one rule in one jurisdiction; decisions record (rule_id, version)."""

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version", "jurisdiction"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[int]
    jurisdiction: Mapped[str] = mapped_column(String(12), default="CN")
    title: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(500))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSONData)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

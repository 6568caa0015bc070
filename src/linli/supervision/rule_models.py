"""Supervision rules as versioned data, per jurisdiction (docs/supervision.md).

A change of a parameter is a new version with its author and reason, never an edit; alerts
record the (rule id, version) that raised them. Unlike `rules.RuleVersion` (shown to everyone
on /ops/rules), these are read only by regulators: thresholds are not published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class SupervisionRuleVersion(Base):
    __tablename__ = "supervision_rule_versions"
    __table_args__ = (
        UniqueConstraint("rule_id", "jurisdiction", "version"),
        Index("ix_supervision_rule_versions_rule", "rule_id", "jurisdiction"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    version: Mapped[int]
    jurisdiction: Mapped[str] = mapped_column(String(12))  # "CN" or a GB/T 2260 code
    title: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    params: Mapped[dict[str, Any]] = mapped_column(JSONData)
    reason: Mapped[str] = mapped_column(String(500))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

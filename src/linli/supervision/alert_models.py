"""What supervision observed, and the alerts its rules raised (docs/supervision.md).

A signal is one observed fact a rule counts (a paid order, a complaint filed, an overdue
refund, a failed inspection...), kept per merchant so that rates and counts over a window are
one indexed query. An alert is open until a case takes it or a regulator dismisses it;
repeated firings of the same rule on the same subject merge into it (`count`, `last_at`,
evidence appended).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime

OPEN = "open"
IN_CASE = "in_case"
DISMISSED = "dismissed"
ALERT_STATUSES = (OPEN, IN_CASE, DISMISSED)
SEVERITIES = ("low", "medium", "high")


class Signal(Base):
    __tablename__ = "supervision_signals"
    __table_args__ = (Index("ix_supervision_signals_org_kind_at", "organisation_id", "kind", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    ref: Mapped[str] = mapped_column(String(60))  # what it is about, e.g. "order:12"
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    __tablename__ = "supervision_alerts"
    __table_args__ = (
        Index("ix_supervision_alerts_key_status", "dedupe_key", "status"),
        Index("ix_supervision_alerts_regulator", "regulator_organisation_id", "status"),
        Index("ix_supervision_alerts_org", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    rule_jurisdiction: Mapped[str] = mapped_column(String(12))
    severity: Mapped[str] = mapped_column(String(10))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # The regulator whose jurisdiction covers the merchant (None: nobody covers it yet).
    regulator_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    subject: Mapped[str] = mapped_column(String(80))  # e.g. "sku:5", "merchant"
    dedupe_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    count: Mapped[int] = mapped_column(default=1)
    summary: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONData)
    evidence: Mapped[list[Any]] = mapped_column(JSONData)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None]
    dismissed_reason: Mapped[str | None] = mapped_column(String(500))

"""Food-safety records around batches: inspections, cold-chain readings, excursions, holds,
recalls and the trace codes of order lines (docs/recall-and-cold-chain.md).

Inspections, readings, excursions and hold decisions are history: append-only like the trace
events they accompany. A hold is closed by a decision row, never by editing it away.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class HoldDecision(StrEnum):
    RELEASE = "release"
    DESTROY = "destroy"


class HoldAuthority(StrEnum):
    """On whose authority a hold was opened: the merchant's own (its failed inspection), a
    regulator's (its failed inspection), or the platform's rules (a cold-chain excursion)."""

    MERCHANT = "merchant"
    REGULATOR = "regulator"
    PLATFORM = "platform"


class RecallStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RecallRefund(StrEnum):
    """What a recall gives back to buyers."""

    FULL = "full"
    NONE = "none"


RELEASE, DESTROY = HoldDecision.RELEASE, HoldDecision.DESTROY
BY_MERCHANT, BY_REGULATOR, BY_PLATFORM = (
    HoldAuthority.MERCHANT,
    HoldAuthority.REGULATOR,
    HoldAuthority.PLATFORM,
)
HOLD_AUTHORITIES = tuple(HoldAuthority)
RECALL_OPEN, RECALL_CLOSED = RecallStatus.OPEN, RecallStatus.CLOSED
REFUND_FULL, REFUND_NONE = RecallRefund.FULL, RecallRefund.NONE


class TraceInspection(Base):
    """A laboratory inspection of a batch, recorded as an EPCIS `inspecting` ObjectEvent."""

    __tablename__ = "trace_inspections"
    __table_args__ = (Index("ix_trace_inspections_batch", "batch_id", "inspected_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )  # who recorded it (the merchant, or a regulator)
    laboratory: Mapped[str] = mapped_column(String(120))
    items_tested: Mapped[list[Any]] = mapped_column(JSONData)  # e.g. ["pesticide residue"]
    results: Mapped[str] = mapped_column(Text)
    passed: Mapped[bool] = mapped_column(Boolean)
    report_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("stored_files.id", ondelete="SET NULL")
    )
    event_pk: Mapped[int] = mapped_column(ForeignKey("trace_events.id", ondelete="CASCADE"))
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceReading(Base):
    """One temperature reading of a sensor travelling with a batch (milli-degrees Celsius)."""

    __tablename__ = "trace_readings"
    __table_args__ = (
        UniqueConstraint("batch_id", "sensor_id", "read_at"),
        Index("ix_trace_readings_batch_time", "batch_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id", ondelete="CASCADE"))
    sensor_id: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    temperature_mc: Mapped[int] = mapped_column(Integer)  # milli-degrees Celsius
    source: Mapped[str] = mapped_column(String(10))  # api | mqtt
    event_pk: Mapped[int | None] = mapped_column(
        ForeignKey("trace_events.id", ondelete="SET NULL")
    )  # the EPCIS sensor event that carries it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceExcursion(Base):
    """Readings outside the storage class's range by more than its tolerance for longer than
    its minimum duration; the rule version that decided it is recorded."""

    __tablename__ = "trace_excursions"
    __table_args__ = (UniqueConstraint("batch_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="CASCADE"), index=True
    )
    storage_class: Mapped[str] = mapped_column(String(10))
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    readings: Mapped[int]
    worst_mc: Mapped[int]  # the reading furthest outside the range
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceHold(Base):
    """A batch was put on hold (excursion, failed inspection) until a decision is recorded."""

    __tablename__ = "trace_holds"
    __table_args__ = (
        CheckConstraint("reason IN ('excursion', 'inspection_failed')", name="reason"),
        CheckConstraint("decision IS NULL OR decision IN ('release', 'destroy')", name="decision"),
        CheckConstraint("authority IN ('merchant', 'regulator', 'platform')", name="authority"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int | None]  # the excursion or inspection
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who opened it and on what authority; a regulator's hold is released only by a regulator
    # with jurisdiction over the batch (safety.decide_hold).
    authority: Mapped[str] = mapped_column(String(10), server_default=BY_PLATFORM)
    opened_by_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    opened_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decision: Mapped[str | None] = mapped_column(String(10))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )


class TraceRecall(Base):
    """A recall: its level's deadlines (rule data), the terms, and its closing report."""

    __tablename__ = "trace_recalls"
    __table_args__ = (
        CheckConstraint("level IN (1, 2, 3)", name="level"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        CheckConstraint("refund IN ('full', 'none')", name="refund"),
        Index("ix_trace_recalls_org_opened", "organisation_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )  # the merchant whose batches are recalled
    opened_by_organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )  # the merchant itself or a regulator
    opened_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    level: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    refund: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(6), default=RECALL_OPEN)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    hazard_found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    start_by: Mapped[datetime] = mapped_column(UTCDateTime)
    complete_by: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONData, nullable=True)


class TraceRecallBatch(Base):
    """A batch a recall covers: named in it, or found downstream through an event."""

    __tablename__ = "trace_recall_batches"
    __table_args__ = (UniqueConstraint("recall_id", "batch_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("trace_recalls.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="CASCADE"), index=True
    )
    via: Mapped[str] = mapped_column(String(20))  # named | transformation | aggregation
    from_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="SET NULL")
    )
    event_pk: Mapped[int | None] = mapped_column(ForeignKey("trace_events.id", ondelete="SET NULL"))


class TraceRecallLine(Base):
    """An order line holding recalled goods: whether its buyer was told, what was returned
    and refunded, or whether its unpaid order was cancelled."""

    __tablename__ = "trace_recall_lines"
    __table_args__ = (UniqueConstraint("recall_id", "order_line_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recall_id: Mapped[int] = mapped_column(
        ForeignKey("trace_recalls.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_order_lines.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_orders.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id", ondelete="CASCADE"))
    quantity: Mapped[int]
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_qty: Mapped[int] = mapped_column(default=0, server_default="0")
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TraceLineCode(Base):
    """The public trace code of an order line: random, so codes cannot be enumerated."""

    __tablename__ = "trace_line_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_order_lines.id", ondelete="CASCADE"), unique=True
    )
    batch_id: Mapped[int] = mapped_column(ForeignKey("trace_batches.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _refuse_changes(_mapper: Any, _connection: Any, target: Any) -> None:
    raise RuntimeError(f"{type(target).__name__} rows are append-only")


for _model in (TraceInspection, TraceReading, TraceLineCode):
    event.listen(_model, "before_update", _refuse_changes)
    event.listen(_model, "before_delete", _refuse_changes)


class TraceDevice(Base):
    """A sensor (cold-chain logger) registered by an organisation. Its `device_id` is the last
    segment of its MQTT topic (`linli/sensors/{device_id}`) and the broker username it
    authenticates with; readings it sends are accepted only for its organisation's batches."""

    __tablename__ = "trace_devices"
    __table_args__ = (Index("ix_trace_devices_org", "organisation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

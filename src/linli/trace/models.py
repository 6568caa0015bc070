"""Batches (lots) and EPCIS 2.0 trace events, stored append-only and hash-chained.

- `TraceBatch`: one lot of one SKU, owned by the SKU's organisation. `code` is the public
  trace code (printed on labels); `status` is what recall and cold chain will change.
- `TraceEvent`: one EPCIS event as captured (`document`: canonical JSON text, the bytes that
  are hashed), its CBV 2.0 event hash id, and the columns queries filter on.
- `TraceEventBatch`: which batches an event concerns (an event may name several lots).
- `TraceEventEpc`: every EPC and EPC class an event names, for MATCH_epc / MATCH_anyEPCClass.
- `TraceChainLink` / `TraceChainHead`: the hash chains. There is one chain per batch
  (`batch:{id}`) and one per organisation for events that name none of its batches
  (`org:{id}`). Each link records the previous chain hash and its own; the head keeps the
  length and last hash, so deleting the newest event is detected too.
- `TraceCapture`: one capture job of the EPCIS REST interface, succeeded or failed; with
  `proceed` (captureErrorBehaviour) a succeeded job may also list the events it refused.

Events, their EPC rows, batch links and chain links are append-only: the ORM refuses to update
or delete them. Corrections are new events carrying an errorDeclaration.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class BatchStatus(StrEnum):
    ACTIVE = "active"  # on sale
    ON_HOLD = "on_hold"  # waiting for a safety decision (excursion, failed inspection)
    RECALLED = "recalled"
    DESTROYED = "destroyed"  # destroyed after a hold: never sellable again


ACTIVE, ON_HOLD, RECALLED, DESTROYED = (
    BatchStatus.ACTIVE,
    BatchStatus.ON_HOLD,
    BatchStatus.RECALLED,
    BatchStatus.DESTROYED,
)
BATCH_STATUSES = (ACTIVE, ON_HOLD, RECALLED, DESTROYED)
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransformationEvent",
    "TransactionEvent",
    "AssociationEvent",
)


class CaptureStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


CAPTURE_SUCCEEDED, CAPTURE_FAILED = CaptureStatus.SUCCEEDED, CaptureStatus.FAILED
# captureErrorBehaviour (EPCIS 2.0 REST binding): all or nothing, or the valid events only
ROLLBACK, PROCEED = "rollback", "proceed"
EPC_INSTANCE, EPC_CLASS = "epc", "class"


class TraceBatch(Base):
    """A lot of a SKU: when and where it was produced, by whom, until when it keeps."""

    __tablename__ = "trace_batches"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'on_hold', 'recalled', 'destroyed')", name="status"),
        UniqueConstraint("sku_id", "lot"),
        Index("ix_trace_batches_gtin_lot", "gtin", "lot"),
        Index("ix_trace_batches_org_created", "organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # public trace code
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    gtin: Mapped[str | None] = mapped_column(String(14))  # the product's GTIN at creation
    lot: Mapped[str] = mapped_column(String(20))  # GS1 AI (10): up to 20 characters
    production_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date | None] = mapped_column(Date)
    origin: Mapped[str] = mapped_column(String(120), default="")
    producer: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(10), default=ACTIVE)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceCapture(Base):
    """A capture job (EPCIS REST `/capture/{captureID}`): its outcome and errors."""

    __tablename__ = "trace_captures"
    __table_args__ = (
        CheckConstraint("status IN ('succeeded', 'failed')", name="status"),
        CheckConstraint("error_behaviour IN ('rollback', 'proceed')", name="error_behaviour"),
        Index("ix_trace_captures_org_created", "organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10))
    error_behaviour: Mapped[str] = mapped_column(
        String(10), server_default=ROLLBACK, default=ROLLBACK
    )
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSONData)
    # what was accepted but deserves the capturer's attention: [{field, reason, eventIndex}]
    warnings: Mapped[list[Any]] = mapped_column(JSONData, server_default="[]", default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceEvent(Base):
    """One EPCIS event. `document` is the canonical JSON of the event as captured."""

    __tablename__ = "trace_events"
    __table_args__ = (
        CheckConstraint(
            "event_type IN ('ObjectEvent', 'AggregationEvent', 'TransformationEvent', "
            "'TransactionEvent', 'AssociationEvent')",
            name="event_type",
        ),
        # An error declaration repeats the eventID of the event it declares in error.
        UniqueConstraint("organisation_id", "event_id", "is_correction"),
        Index("ix_trace_events_org_time", "organisation_id", "event_time"),
        Index("ix_trace_events_org_record", "organisation_id", "id"),
        Index("ix_trace_events_hash_id", "hash_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="CASCADE"), index=True
    )  # the first batch the event names (all of them: TraceEventBatch)
    capture_id: Mapped[int | None] = mapped_column(
        ForeignKey("trace_captures.id", ondelete="SET NULL"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(300))  # eventID: as given, else the hash id
    hash_id: Mapped[str] = mapped_column(String(100))  # ni:///sha-256;...?ver=CBV2.0
    event_type: Mapped[str] = mapped_column(String(20))
    action: Mapped[str | None] = mapped_column(String(10))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    event_time_zone_offset: Mapped[str] = mapped_column(String(6))
    record_time: Mapped[datetime] = mapped_column(UTCDateTime)
    biz_step: Mapped[str | None] = mapped_column(String(300), index=True)
    disposition: Mapped[str | None] = mapped_column(String(300))
    read_point: Mapped[str | None] = mapped_column(String(300))
    biz_location: Mapped[str | None] = mapped_column(String(300))
    is_correction: Mapped[bool] = mapped_column(default=False)  # carries an errorDeclaration
    document: Mapped[str] = mapped_column(Text)  # canonical JSON (sorted keys, no spaces)
    content_sha256: Mapped[str] = mapped_column(String(64))  # of `document`, UTF-8


class TraceEventBatch(Base):
    """An event concerns a batch (by GTIN and lot in its EPC classes or EPCs)."""

    __tablename__ = "trace_event_batches"
    __table_args__ = (UniqueConstraint("event_pk", "batch_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("trace_events.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="CASCADE"), index=True
    )


class TraceEventEpc(Base):
    """An EPC (kind "epc") or EPC class (kind "class") named anywhere in an event."""

    __tablename__ = "trace_event_epcs"
    __table_args__ = (
        CheckConstraint("kind IN ('epc', 'class')", name="kind"),
        Index("ix_trace_event_epcs_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(
        ForeignKey("trace_events.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(5))
    value: Mapped[str] = mapped_column(String(300))


class TraceChainHead(Base):
    """The end of one chain: how many links it has and the hash of the last one.

    Appending locks this row (SELECT ... FOR UPDATE on PostgreSQL; SQLite writers are
    serialised by BEGIN IMMEDIATE), so links of one chain are numbered without gaps.
    """

    __tablename__ = "trace_chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)  # batch:{id} / org:{id}
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    length: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str] = mapped_column(String(64))


class TraceChainLink(Base):
    """Link `seq` of a chain: chain_hash = sha256(prev_hash | hash_id | content_sha256)."""

    __tablename__ = "trace_chain_links"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    event_pk: Mapped[int] = mapped_column(
        ForeignKey("trace_events.id", ondelete="CASCADE"), index=True
    )
    prev_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))


def _refuse_changes(_mapper: Any, _connection: Any, target: Any) -> None:
    raise RuntimeError(f"{type(target).__name__} rows are append-only")


for _model in (TraceEvent, TraceEventBatch, TraceEventEpc, TraceChainLink, TraceCapture):
    event.listen(_model, "before_update", _refuse_changes)
    event.listen(_model, "before_delete", _refuse_changes)

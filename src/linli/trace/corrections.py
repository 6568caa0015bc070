"""Events declared in error (EPCIS error declarations, stored as corrections: a row with the
same eventID and `is_correction`), as SQL conditions for the readers that must not act on
them: recall's downstream walk and the cold chain (readings, excursion detection and counts).
Queries and the journey show them, marked, as the standard says; these readers skip them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import aliased

from linli.trace.models import TraceEvent
from linli.trace.safety_models import TraceExcursion, TraceReading


def declared_in_error(event: Any = TraceEvent) -> ColumnElement[bool]:
    """The event (`TraceEvent` or an alias of it) has an error declaration."""
    declaration = aliased(TraceEvent)
    return exists().where(
        declaration.organisation_id == event.organisation_id,
        declaration.event_id == event.event_id,
        declaration.is_correction.is_(True),
    )


def standing(event: Any = TraceEvent) -> ColumnElement[bool]:
    """Neither an error declaration nor an event declared in error (a declaration of an event
    never captured here is itself declared in error: it is skipped too)."""
    return and_(event.is_correction.is_(False), ~declared_in_error(event))


def reading_stands() -> ColumnElement[bool]:
    """A cold-chain reading whose sensor event (if it has one) was not declared in error."""
    event = aliased(TraceEvent)
    return ~exists().where(event.id == TraceReading.event_pk, declared_in_error(event))


def excursion_stands() -> ColumnElement[bool]:
    """An excursion some reading of whose run still stands: one whose readings all came with
    sensor events declared in error no longer counts (its run's readings are those of the
    batch between its start and its last reading)."""
    return exists(
        select(TraceReading.id).where(
            TraceReading.batch_id == TraceExcursion.batch_id,
            TraceReading.read_at >= TraceExcursion.started_at,
            TraceReading.read_at <= TraceExcursion.last_seen_at,
            reading_stands(),
        )
    )

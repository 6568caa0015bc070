"""EPCIS queries: the actor's events by the SimpleEventQuery parameters, in capture order, and
the stored events exported as an EPCIS 2.0 query document."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from linli import clock
from linli.authz import TRACE_READ, Actor, ensure
from linli.db import escape_like
from linli.errors import NotFound
from linli.i18n import N_
from linli.trace import digital_link, vocab
from linli.trace.identifiers import canonical_epc
from linli.trace.models import EPC_CLASS, EPC_INSTANCE, TraceEvent, TraceEventBatch, TraceEventEpc
from linli.trace.policies import own_rows

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


@dataclass(frozen=True)
class EventQuery:
    event_types: Sequence[str] = ()
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    biz_steps: Sequence[str] = ()
    dispositions: Sequence[str] = ()
    read_points: Sequence[str] = ()
    biz_locations: Sequence[str] = ()
    match_epc: Sequence[str] = ()
    match_any_epc_class: Sequence[str] = ()
    batch_id: int | None = None
    per_page: int = 100
    after_id: int | None = None


async def query_events(
    session: AsyncSession, actor: Actor, q: EventQuery
) -> tuple[Sequence[TraceEvent], int | None]:
    """A page of the actor's events in capture order, and the id to continue after."""
    ensure(actor, TRACE_READ)
    query = select(TraceEvent).where(own_rows(actor, TraceEvent), _not_a_declaration_of_another())
    for condition in _conditions(q):
        query = query.where(condition)
    if q.after_id is not None:
        query = query.where(TraceEvent.id > q.after_id)
    rows = (await session.scalars(query.order_by(TraceEvent.id).limit(q.per_page + 1))).all()
    more = len(rows) > q.per_page
    rows = rows[: q.per_page]
    return rows, (rows[-1].id if more and rows else None)


def _not_a_declaration_of_another() -> ColumnElement[bool]:
    """An error declaration of a stored event is not an event of its own: queries return the
    event it declares in error, with the declaration (`declarations`)."""
    original = aliased(TraceEvent)
    return or_(
        TraceEvent.is_correction.is_(False),
        ~exists().where(
            original.organisation_id == TraceEvent.organisation_id,
            original.event_id == TraceEvent.event_id,
            original.is_correction.is_(False),
        ),
    )


async def declarations(
    session: AsyncSession, rows: Sequence[TraceEvent]
) -> dict[tuple[int, str], dict[str, Any]]:
    """The errorDeclaration of each of `rows` that was declared in error, by (organisation,
    eventID): one query."""
    wanted = [(r.organisation_id, r.event_id) for r in rows if not r.is_correction]
    if not wanted:
        return {}
    found = await session.execute(
        select(TraceEvent.organisation_id, TraceEvent.event_id, TraceEvent.document).where(
            TraceEvent.is_correction.is_(True),
            TraceEvent.organisation_id.in_({o for o, _e in wanted}),
            TraceEvent.event_id.in_({e for _o, e in wanted}),
        )
    )
    return {
        (organisation_id, event_id): json.loads(document)["errorDeclaration"]
        for organisation_id, event_id, document in found.all()
    }


def _conditions(q: EventQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q.event_types:
        conditions.append(TraceEvent.event_type.in_(q.event_types))
    for column, bound, upper in (
        (TraceEvent.event_time, q.ge_event_time, False),
        (TraceEvent.event_time, q.lt_event_time, True),
        (TraceEvent.record_time, q.ge_record_time, False),
        (TraceEvent.record_time, q.lt_record_time, True),
    ):
        if bound is not None:
            conditions.append(column < bound if upper else column >= bound)
    if q.biz_steps:
        conditions.append(TraceEvent.biz_step.in_([_cbv_value("bizStep", v) for v in q.biz_steps]))
    if q.dispositions:
        dispositions = [_cbv_value("disposition", v) for v in q.dispositions]
        conditions.append(TraceEvent.disposition.in_(dispositions))
    if q.read_points:
        conditions.append(TraceEvent.read_point.in_(q.read_points))
    if q.biz_locations:
        conditions.append(TraceEvent.biz_location.in_(q.biz_locations))
    for kind, values in ((EPC_INSTANCE, q.match_epc), (EPC_CLASS, q.match_any_epc_class)):
        if values:
            conditions.append(TraceEvent.id.in_(_epc_match(kind, values)))
    if q.batch_id is not None:
        conditions.append(
            TraceEvent.id.in_(
                select(TraceEventBatch.event_pk).where(TraceEventBatch.batch_id == q.batch_id)
            )
        )
    return conditions


def _cbv_value(name: str, value: str) -> str:
    return vocab.expand(name, value) or value


def _epc_match(kind: str, values: Sequence[str]) -> Any:
    """Event ids naming any of `values`: exact (any notation), or a pattern (idpat, or '*')."""
    matches: list[ColumnElement[bool]] = []
    for value in values:
        if value.startswith("urn:epc:idpat:") or value.endswith("*"):
            prefix = _pattern_prefix(value)
            matches.append(TraceEventEpc.value.like(escape_like(prefix) + "%", escape="\\"))
        else:
            matches.append(TraceEventEpc.value == canonical_epc(value))
    return select(TraceEventEpc.event_pk).where(TraceEventEpc.kind == kind, or_(*matches))


def _pattern_prefix(value: str) -> str:
    normal = digital_link.normalise(value)
    if value.startswith("urn:epc:idpat:") and normal:
        return normal + "/"
    return value.rstrip("*")


async def access_event(session: AsyncSession, actor: Actor, event_id: str) -> TraceEvent:
    ensure(actor, TRACE_READ)
    row = await session.scalar(
        select(TraceEvent)
        .where(own_rows(actor, TraceEvent), TraceEvent.event_id == event_id)
        .order_by(TraceEvent.is_correction)  # the event, not its error declaration
        .limit(1)
    )
    if row is None:
        raise NotFound(N_("No such event."))
    return row


def export_event(row: TraceEvent, declaration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored event as EPCIS 2.0 JSON, with its eventID and recordTime, and the
    errorDeclaration that declared it in error, if one did."""
    event: dict[str, Any] = json.loads(row.document)
    event.setdefault("eventID", row.event_id)
    if declaration is not None:
        event["errorDeclaration"] = declaration
    event["recordTime"] = row.record_time.isoformat().replace("+00:00", "Z")
    return event


def query_document(
    rows: Sequence[TraceEvent], declared: dict[tuple[int, str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The rows as an EPCISQueryDocument; `declared`: `declarations(session, rows)`."""
    declared = declared or {}
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": clock.now().isoformat().replace("+00:00", "Z"),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {
                    "eventList": [
                        export_event(r, declared.get((r.organisation_id, r.event_id))) for r in rows
                    ]
                },
            }
        },
    }

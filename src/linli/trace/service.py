"""Traceability: batches, EPCIS events (captured or recorded by us), hash chains, verify.

For other domains (inspections, cold chain, recall, the public trace page):

- `create_batch(...)`, `access_batch(...)`, `list_batches(...)`: scoped to the actor's
  organisation; another organisation's batch is 404.
- `record_event(session, actor, batch, event)`: append an event we generate ourselves (an
  EPCIS 2.0 event as a dict; eventTime defaults to now). Commissioning is recorded this way
  when a batch is created.
- `chain_of(session, batch)`: the batch's events in chain order, with their links.
- `verify(session, batch_id=None)`: the first broken link, or None.

Every stored event is appended to one hash chain per batch it names (`batch:{id}`), or to
its organisation's chain (`org:{id}`) when it names none of that organisation's batches.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import TRACE_CAPTURE, TRACE_MANAGE, TRACE_READ, Actor, acting_organisation, ensure
from linli.catalog import offers
from linli.db import escape_like
from linli.errors import BadRequest, Conflict, NotFound
from linli.i18n import N_, Message
from linli.trace import capture as checks
from linli.trace import digital_link, eventhash, vocab
from linli.trace.models import (
    CAPTURE_FAILED,
    CAPTURE_SUCCEEDED,
    EPC_CLASS,
    EPC_INSTANCE,
    TraceBatch,
    TraceCapture,
    TraceChainHead,
    TraceChainLink,
    TraceEvent,
    TraceEventBatch,
    TraceEventEpc,
)
from linli.trace.schemas import BatchIn

GENESIS = "0" * 64
LINLI_BATCH = "urn:linli:batch:"
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MAX_TEXT = 300  # indexed identifiers (EPCs, locations, bizStep, eventID)
_EPC_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_CLASS_FIELDS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


# --- hashing --------------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """The bytes we store and hash: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, hash_id: str, content_sha256: str) -> str:
    return sha256_hex(f"{prev_hash}|{hash_id}|{content_sha256}")


# --- batches -------------------------------------------------------------------------------


async def create_batch(session: AsyncSession, actor: Actor, data: BatchIn) -> TraceBatch:
    organisation_id = acting_organisation(actor, TRACE_MANAGE)
    found = await offers.sku_facts(session, data.sku_id, organisation_id=organisation_id)
    if found is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    taken = await session.scalar(
        select(TraceBatch.id).where(TraceBatch.sku_id == data.sku_id, TraceBatch.lot == data.lot)
    )
    if taken is not None:
        raise Conflict(
            N_("This SKU already has a batch with lot {lot}."), code="lot_taken", lot=data.lot
        )
    batch = TraceBatch(
        code=_new_code(),
        organisation_id=organisation_id,
        sku_id=data.sku_id,
        gtin=found.gtin.zfill(14) if found.gtin else None,
        lot=data.lot,
        production_date=data.production_date,
        expiry_date=data.expiry_date,
        origin=data.origin,
        producer=data.producer,
        created_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    session.add(batch)
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.batch.create",
        target_type="trace_batch",
        target_id=batch.id,
        sku_id=batch.sku_id,
        lot=batch.lot,
        code=batch.code,
    )
    await record_event(session, actor, batch, commissioning_event(batch))
    return batch


def _new_code() -> str:
    # 16 hex characters (64 random bits): unguessable, printable on a label.
    return secrets.token_hex(8).upper()


def batch_chain(batch_id: int) -> str:
    return f"batch:{batch_id}"


def org_chain(organisation_id: int) -> str:
    return f"org:{organisation_id}"


def batch_class(batch: TraceBatch) -> str:
    """The EPC class of a batch: its GS1 Digital Link when the product has a GTIN."""
    if batch.gtin:
        return f"{digital_link.ID_GS1}/01/{batch.gtin.zfill(14)}/10/{batch.lot}"
    return f"{LINLI_BATCH}{batch.code}"


def commissioning_event(batch: TraceBatch) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "ADD",
        "epcList": [],
        "quantityList": [{"epcClass": batch_class(batch)}],
        "bizStep": "commissioning",
        "disposition": "active",
        "ilmd": {
            "cbvmda:lotNumber": batch.lot,
            "cbvmda:itemExpirationDate": (
                batch.expiry_date.isoformat() if batch.expiry_date else None
            ),
        },
    }


async def list_batches(
    session: AsyncSession, actor: Actor, *, limit: int = 50, before_id: int | None = None
) -> Sequence[TraceBatch]:
    organisation_id = acting_organisation(actor, TRACE_READ)
    query = select(TraceBatch).where(TraceBatch.organisation_id == organisation_id)
    if before_id is not None:
        query = query.where(TraceBatch.id < before_id)
    return (await session.scalars(query.order_by(TraceBatch.id.desc()).limit(limit))).all()


async def access_batch(session: AsyncSession, actor: Actor, batch_id: int) -> TraceBatch:
    ensure(actor, TRACE_READ)
    batch = await session.scalar(
        select(TraceBatch).where(TraceBatch.id == batch_id, _scoped(actor, TraceBatch))
    )
    if batch is None:
        raise NotFound(N_("No such batch."))
    return batch


def _scoped(actor: Actor, model: type[TraceBatch] | type[TraceEvent]) -> ColumnElement[bool]:
    if actor.system:
        return model.id.is_not(None)
    return model.organisation_id == acting_organisation(actor, TRACE_READ)


# --- storing events ------------------------------------------------------------------------


async def record_event(
    session: AsyncSession, actor: Actor, batch: TraceBatch, event: dict[str, Any]
) -> TraceEvent:
    """Append an event we generate ourselves to `batch` (and any other batch it names)."""
    if not actor.system and batch.organisation_id != actor.organisation_id:
        raise NotFound(N_("No such batch."))
    row = await record_generated_event(session, batch.organisation_id, event, batches=[batch])
    audit.record(
        session,
        actor,
        "trace.event.record",
        target_type="trace_event",
        target_id=row.id,
        batch_id=batch.id,
        event_id=row.event_id,
    )
    return row


async def record_generated_event(
    session: AsyncSession,
    organisation_id: int,
    event: dict[str, Any],
    *,
    batches: Sequence[TraceBatch] = (),
) -> TraceEvent:
    """Store an event the platform generated (inspections, sensor reports, holds, recalls)
    on the chains of `batches` and of every other batch of the organisation it names; on the
    organisation's own chain when it names none. The caller records the audit entry."""
    now = clock.now()
    event = {"eventTime": now.isoformat(), "eventTimeZoneOffset": "+08:00", **event}
    event = {k: v for k, v in event.items() if v is not None}
    named = await _batches_named(session, organisation_id, event)
    chosen = {b.id: b for b in [*batches, *named]}
    pending = _Pending(event, eventhash.event_hash_id(event), [chosen[i] for i in sorted(chosen)])
    (row,) = await _store_all(session, organisation_id, [pending], None)
    return row


@dataclass
class _Pending:
    """An event about to be stored: its document, hash id and the batches it names."""

    event: dict[str, Any]
    hash_id: str
    batches: list[TraceBatch]


async def _store_all(
    session: AsyncSession, organisation_id: int, pending: list[_Pending], capture_id: int | None
) -> list[TraceEvent]:
    """Insert the events, their EPC and batch rows, and append them to their chains.

    A handful of statements per document, whatever its size: the chain heads are locked once
    (sorted, so concurrent captures cannot deadlock), links are computed in memory, and each
    head moves once, conditionally on the length it was locked at.
    """
    chains = [_chains(organisation_id, item.batches) for item in pending]
    heads = await _lock_heads(session, organisation_id, {c for cs in chains for c in cs})
    rows = [_event_row(organisation_id, item, capture_id) for item in pending]
    session.add_all(rows)
    await session.flush()
    state = {chain: (head.length, head.head_hash) for chain, head in heads.items()}
    for row, item, row_chains in zip(rows, pending, chains, strict=True):
        session.add_all(
            TraceEventEpc(event_pk=row.id, kind=kind, value=value)
            for kind, value in sorted(epcs_of(item.event))
        )
        session.add_all(TraceEventBatch(event_pk=row.id, batch_id=b.id) for b in item.batches)
        for chain in row_chains:
            length, prev = state[chain]
            link_hash = chain_hash(prev, row.hash_id, row.content_sha256)
            session.add(
                TraceChainLink(
                    chain=chain,
                    seq=length + 1,
                    event_pk=row.id,
                    prev_hash=prev,
                    chain_hash=link_hash,
                )
            )
            state[chain] = (length + 1, link_hash)
    await session.flush()
    for chain, head in heads.items():
        await _move_head(session, head, *state[chain])
    return rows


def _chains(organisation_id: int, batches: Sequence[TraceBatch]) -> list[str]:
    return [batch_chain(b.id) for b in batches] or [org_chain(organisation_id)]


def _event_row(organisation_id: int, item: _Pending, capture_id: int | None) -> TraceEvent:
    document = canonical_json(item.event)
    return TraceEvent(
        organisation_id=organisation_id,
        batch_id=item.batches[0].id if item.batches else None,
        capture_id=capture_id,
        hash_id=item.hash_id,
        record_time=clock.now(),
        document=document,
        content_sha256=sha256_hex(document),
        **columns_of(item.event, item.hash_id),
    )


def columns_of(event: dict[str, Any], hash_id: str) -> dict[str, Any]:
    """The queryable columns of an event, all derived from its document."""
    time = checks.parse_time(str(event.get("eventTime", "")))
    if time is None:
        raise ValueError("eventTime")
    return {
        "event_id": str(event.get("eventID") or hash_id),
        "event_type": event["type"],
        "action": event.get("action"),
        "event_time": time,
        "event_time_zone_offset": str(event.get("eventTimeZoneOffset", "+00:00")),
        "biz_step": _cbv(event, "bizStep"),
        "disposition": _cbv(event, "disposition"),
        "read_point": _location(event.get("readPoint")),
        "biz_location": _location(event.get("bizLocation")),
        "is_correction": "errorDeclaration" in event,
    }


def _cbv(event: dict[str, Any], name: str) -> str | None:
    value = event.get(name)
    if not isinstance(value, str):
        return None
    return vocab.expand(name, value) or value


def _location(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, dict) and "id" in value else None


def raw_epcs_of(event: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, value as given) of every EPC and EPC class the event names."""
    found: set[tuple[str, str]] = set()
    for name in _EPC_FIELDS:
        for epc in event.get(name) or []:
            if isinstance(epc, str):
                found.add((EPC_INSTANCE, epc))
    for name in _CLASS_FIELDS:
        for element in event.get(name) or []:
            if isinstance(element, dict) and isinstance(element.get("epcClass"), str):
                found.add((EPC_CLASS, element["epcClass"]))
    return found


def epcs_of(event: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, canonical value) of every EPC and EPC class, as queries match them."""
    return {(kind, canonical_epc(value)) for kind, value in raw_epcs_of(event)}


def canonical_epc(value: str) -> str:
    """EPC URNs and Digital Links compare as their canonical Digital Link."""
    return digital_link.normalise(value) or value


def _batch_resolver(session: AsyncSession, organisation_id: int) -> Any:
    """_batches_named for many events, looking each (GTIN, lot) up once."""
    cache: dict[tuple[str, str], TraceBatch | None] = {}

    async def resolve(event: dict[str, Any]) -> list[TraceBatch]:
        pairs = _lots_named(event)
        missing = [p for p in pairs if p not in cache]
        if missing:
            found = await _batches_by_lot(session, organisation_id, missing)
            cache.update({p: found.get(p) for p in missing})
        named = {b.id: b for p in sorted(pairs) if (b := cache[p]) is not None}
        codes = {
            value.removeprefix(LINLI_BATCH)
            for _kind, value in raw_epcs_of(event)
            if value.startswith(LINLI_BATCH)
        }
        if codes:  # our own identifier for a batch of a product without a GTIN
            for batch in await session.scalars(
                select(TraceBatch).where(
                    TraceBatch.organisation_id == organisation_id, TraceBatch.code.in_(codes)
                )
            ):
                named[batch.id] = batch
        return [named[i] for i in sorted(named)]

    return resolve


def _lots_named(event: dict[str, Any]) -> set[tuple[str, str]]:
    raw = raw_epcs_of(event)
    return {gl for _kind, value in raw if (gl := digital_link.gtin_and_lot(value))}


async def _batches_by_lot(
    session: AsyncSession, organisation_id: int, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], TraceBatch]:
    conditions = [(TraceBatch.gtin == gtin) & (TraceBatch.lot == lot) for gtin, lot in pairs]
    query = select(TraceBatch).where(
        TraceBatch.organisation_id == organisation_id, or_(*conditions)
    )
    return {(b.gtin or "", b.lot): b for b in (await session.scalars(query)).all()}


async def _batches_named(
    session: AsyncSession, organisation_id: int, event: dict[str, Any]
) -> list[TraceBatch]:
    """The organisation's batches the event names by GTIN and lot, in id order."""
    resolve = _batch_resolver(session, organisation_id)
    batches: list[TraceBatch] = await resolve(event)
    return batches


async def _lock_heads(
    session: AsyncSession, organisation_id: int, chains: set[str]
) -> dict[str, TraceChainHead]:
    heads: dict[str, TraceChainHead] = {}
    for chain in sorted(chains):
        heads[chain] = await _lock_head(session, chain, organisation_id)
    return heads


async def _move_head(session: AsyncSession, head: TraceChainHead, length: int, hash_: str) -> None:
    if length == head.length:
        return
    moved = await session.execute(
        update(TraceChainHead)
        .where(TraceChainHead.chain == head.chain, TraceChainHead.length == head.length)
        .values(length=length, head_hash=hash_)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(N_("Another capture changed this trace chain; try again."))


async def _lock_head(session: AsyncSession, chain: str, organisation_id: int) -> TraceChainHead:
    query = (
        select(TraceChainHead)
        .where(TraceChainHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = await session.scalar(query)
    if head is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(TraceChainHead)
            .values(chain=chain, organisation_id=organisation_id, length=0, head_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        head = await session.scalar(query)
    assert head is not None
    return head


# --- capture -------------------------------------------------------------------------------


class CaptureFailed(BadRequest):
    """A refused capture document: the job is kept (failed), nothing else of it is stored."""

    default_code = "capture_refused"


async def capture(session: AsyncSession, actor: Actor, document: Any) -> TraceCapture:
    """Check and store an EPCIS document, all or nothing. A refused document still leaves a
    failed capture job (so GET /epcis/capture/{id} can tell why) and raises CaptureFailed."""
    organisation_id = acting_organisation(actor, TRACE_CAPTURE)
    job = TraceCapture(
        public_id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        user_id=actor.user_id,
        created_at=clock.now(),
        errors=[],
    )
    try:
        captured, events = checks.check_document(document)
        hash_ids = eventhash.document_hash_ids({**document, "epcisBody": {"eventList": captured}})
        _check_storable(events, hash_ids)
        await _check_new_event_ids(session, organisation_id, events, hash_ids)
    except checks.CaptureRefused as refused:
        return await _refuse(session, actor, job, refused.problem)
    job.status, job.event_count, job.finished_at = CAPTURE_SUCCEEDED, len(events), clock.now()
    session.add(job)
    await session.flush()
    context = _extension_context(document)
    resolve = _batch_resolver(session, organisation_id)
    pending = [
        _Pending(
            {"@context": context, **e} if context and "@context" not in e else e,
            h,
            await resolve(e),
        )
        for e, h in zip(events, hash_ids, strict=True)
    ]
    await _store_all(session, organisation_id, pending, job.id)
    audit.record(
        session,
        actor,
        "trace.capture",
        target_type="trace_capture",
        target_id=job.public_id,
        events=len(events),
    )
    return job


async def _refuse(
    session: AsyncSession, actor: Actor, job: TraceCapture, problem: checks.Problem
) -> TraceCapture:
    job.status, job.finished_at, job.errors = CAPTURE_FAILED, clock.now(), [problem.as_dict()]
    session.add(job)
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.capture.refused",
        target_type="trace_capture",
        target_id=job.public_id,
        field=problem.field,
    )
    raise CaptureFailed(
        Message(N_("{field}: {reason}"), {"field": problem.field, "reason": problem.reason}),
        fields={problem.field: Message(N_("{reason}"), {"reason": problem.reason})},
        headers={"Location": f"/epcis/capture/{job.public_id}"},
        keep_changes=True,  # only the failed job: no event was added yet
    )


def _extension_context(document: dict[str, Any]) -> list[Any]:
    """The namespace prefixes a document declares, carried on each event (JSON-LD)."""
    context = document.get("@context")
    return [part for part in context if isinstance(part, dict)] if isinstance(context, list) else []


def _check_storable(events: list[dict[str, Any]], hash_ids: list[str]) -> None:
    for index, (event, hash_id) in enumerate(zip(events, hash_ids, strict=True)):
        columns = columns_of(event, hash_id)
        texts = [
            *(v for _k, v in epcs_of(event)),
            *(
                columns[c]
                for c in ("event_id", "biz_step", "disposition", "read_point", "biz_location")
            ),
        ]
        if any(isinstance(t, str) and len(t) > MAX_TEXT for t in texts):
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}]", f"identifiers longer than {MAX_TEXT}", index
                )
            )


async def _check_new_event_ids(
    session: AsyncSession, organisation_id: int, events: list[dict[str, Any]], hash_ids: list[str]
) -> None:
    ids = [str(e.get("eventID") or h) for e, h in zip(events, hash_ids, strict=True)]
    seen: set[str] = set()
    for index, event_id in enumerate(ids):
        if event_id in seen:
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}].eventID", "appears twice in this document", index
                )
            )
        seen.add(event_id)
    existing = set(
        (
            await session.scalars(
                select(TraceEvent.event_id).where(
                    TraceEvent.organisation_id == organisation_id, TraceEvent.event_id.in_(ids)
                )
            )
        ).all()
    )
    for index, event_id in enumerate(ids):
        if event_id in existing:
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}].eventID", "was captured before", index
                )
            )


async def access_capture(session: AsyncSession, actor: Actor, public_id: str) -> TraceCapture:
    organisation_id = acting_organisation(actor, TRACE_READ)
    job = await session.scalar(
        select(TraceCapture).where(
            TraceCapture.public_id == public_id, TraceCapture.organisation_id == organisation_id
        )
    )
    if job is None:
        raise NotFound(N_("No such capture job."))
    return job


# --- queries -------------------------------------------------------------------------------


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
    query = select(TraceEvent).where(_scoped(actor, TraceEvent))
    for condition in _conditions(q):
        query = query.where(condition)
    if q.after_id is not None:
        query = query.where(TraceEvent.id > q.after_id)
    rows = (await session.scalars(query.order_by(TraceEvent.id).limit(q.per_page + 1))).all()
    more = len(rows) > q.per_page
    rows = rows[: q.per_page]
    return rows, (rows[-1].id if more and rows else None)


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
        select(TraceEvent).where(_scoped(actor, TraceEvent), TraceEvent.event_id == event_id)
    )
    if row is None:
        raise NotFound(N_("No such event."))
    return row


def export_event(row: TraceEvent) -> dict[str, Any]:
    """The stored event as EPCIS 2.0 JSON, with its eventID and recordTime."""
    event: dict[str, Any] = json.loads(row.document)
    event.setdefault("eventID", row.event_id)
    event["recordTime"] = row.record_time.isoformat().replace("+00:00", "Z")
    return event


def query_document(rows: Sequence[TraceEvent]) -> dict[str, Any]:
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": clock.now().isoformat().replace("+00:00", "Z"),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": [export_event(r) for r in rows]},
            }
        },
    }


# --- chains and verification ------------------------------------------------------------------


async def chain_of(
    session: AsyncSession, batch: TraceBatch
) -> list[tuple[TraceChainLink, TraceEvent]]:
    """The batch's chain, oldest first."""
    rows = await session.execute(
        select(TraceChainLink, TraceEvent)
        .join(TraceEvent, TraceEvent.id == TraceChainLink.event_pk)
        .where(TraceChainLink.chain == batch_chain(batch.id))
        .order_by(TraceChainLink.seq)
    )
    return [(link, event) for link, event in rows.all()]


@dataclass(frozen=True)
class BrokenLink:
    chain: str
    seq: int
    event_id: str | None
    problem: str


@dataclass(frozen=True)
class Verification:
    chains: int
    links: int
    broken: BrokenLink | None


async def verify_chains(
    session: AsyncSession, batch_id: int | None = None, *, organisation_id: int | None = None
) -> Verification:
    query = select(TraceChainHead).order_by(TraceChainHead.chain)
    if batch_id is not None:
        query = query.where(TraceChainHead.chain == batch_chain(batch_id))
    if organisation_id is not None:
        query = query.where(TraceChainHead.organisation_id == organisation_id)
    heads = (await session.scalars(query)).all()
    links = 0
    for head in heads:
        broken, checked = await _verify_chain(session, head)
        links += checked
        if broken is not None:
            return Verification(len(heads), links, broken)
    return Verification(len(heads), links, None)


async def _verify_chain(
    session: AsyncSession, head: TraceChainHead
) -> tuple[BrokenLink | None, int]:
    # Streamed as plain rows (link and event columns together), so a long chain is checked
    # in constant memory without building ORM objects.
    rows = await session.stream(
        select(
            TraceChainLink.seq.label("link_seq"),
            TraceChainLink.prev_hash.label("link_prev_hash"),
            TraceChainLink.chain_hash.label("link_chain_hash"),
            *TraceEvent.__table__.c,
        )
        .outerjoin(TraceEvent, TraceEvent.id == TraceChainLink.event_pk)
        .where(TraceChainLink.chain == head.chain)
        .order_by(TraceChainLink.seq)
        .execution_options(yield_per=1000)
    )
    prev, seq = GENESIS, 0
    async for row in rows:
        seq += 1
        problem = _link_problem(row, seq, prev)
        if problem:
            await rows.close()
            return BrokenLink(head.chain, seq, row.event_id, problem), seq
        prev = row.link_chain_hash
    if seq != head.length or prev != head.head_hash:
        return BrokenLink(head.chain, seq + 1, None, "the newest link is missing"), seq
    return None, seq


def _link_problem(row: Row[Any], seq: int, prev: str) -> str | None:
    """What is wrong with one link and its event (columns of both, as one row), or None."""
    if row.link_seq != seq:
        return "a link is missing before this one"
    if row.id is None:
        return "the event of this link is missing"
    content = sha256_hex(row.document)
    if content != row.content_sha256:
        return "the event's document was changed"
    if row.link_prev_hash != prev:
        return "the link does not follow the previous one"
    if row.link_chain_hash != chain_hash(prev, row.hash_id, content):
        return "the link's hash does not match its event"
    if not _columns_match(row):
        return "the event's columns differ from its document"
    return None


def _columns_match(event: Row[Any] | TraceEvent) -> bool:
    try:
        expected = columns_of(json.loads(event.document), event.hash_id)
    except (ValueError, KeyError, TypeError):
        return False
    return all(getattr(event, name) == value for name, value in expected.items())

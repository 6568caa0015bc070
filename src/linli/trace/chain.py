"""Events the platform writes itself (inspections, sensor reports, holds, recalls), appended
to the batch hash chains exactly as models.py describes, and the chain check.

Stand-in for the EPCIS core's own functions (another branch): when that lands, `record_event`
and `verify_batch_chain` should delegate to it. The rules followed here are models.py's:
- the event's CBV 2.0 hash id (`eventhash.event_hash_id`) is its eventID when none is given;
- `document` is canonical JSON (sorted keys, no spaces, UTF-8) and `content_sha256` its hash;
- one chain per batch (`batch:{id}`); each link's chain_hash is
  sha256(prev_hash | hash_id | content_sha256), the first link's prev_hash 64 zeros; the head
  row keeps the length and last hash (locked while appending).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.trace import digital_link, eventhash
from linli.trace.models import (
    ACTIVE,
    EPC_CLASS,
    EPC_INSTANCE,
    TraceBatch,
    TraceChainHead,
    TraceChainLink,
    TraceEvent,
    TraceEventBatch,
    TraceEventEpc,
)

GENESIS = "0" * 64
CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
LINLI_BATCH = "urn:linli:batch:"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def random_code(prefix: str, length: int = 11) -> str:
    return prefix + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def batch_class(batch: TraceBatch) -> str:
    """The EPC class of a batch: its GS1 Digital Link (GTIN + lot) when it has a GTIN."""
    if batch.gtin:
        return (
            digital_link.normalise(f"https://id.gs1.org/01/{batch.gtin}/10/{batch.lot}")
            or f"https://id.gs1.org/01/{batch.gtin}/10/{batch.lot}"
        )
    return f"{LINLI_BATCH}{batch.code}"


def zone_offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


async def create_batch(
    session: AsyncSession,
    *,
    organisation_id: int,
    sku_id: int,
    lot: str,
    production_date: date,
    gtin: str | None = None,
    expiry_date: date | None = None,
    origin: str = "",
    producer: str = "",
    user_id: int | None = None,
) -> TraceBatch:
    """A batch row (the EPCIS core's batches API creates them in production; tests, the demo
    and this module use this)."""
    batch = TraceBatch(
        code=random_code("B"),
        organisation_id=organisation_id,
        sku_id=sku_id,
        gtin=gtin,
        lot=lot,
        production_date=production_date,
        expiry_date=expiry_date,
        origin=origin,
        producer=producer,
        status=ACTIVE,
        created_by_user_id=user_id,
        created_at=clock.now(),
    )
    session.add(batch)
    await session.flush()
    return batch


def identifiers(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) of every EPC and EPC class the event names, in any role."""
    found: list[tuple[str, str]] = []
    for name in ("epcList", "inputEPCList", "outputEPCList", "childEPCs"):
        found += [(EPC_INSTANCE, str(v)) for v in event.get(name) or []]
    if event.get("parentID"):
        found.append((EPC_INSTANCE, str(event["parentID"])))
    for name in ("quantityList", "inputQuantityList", "outputQuantityList", "childQuantityList"):
        found += [(EPC_CLASS, str(q.get("epcClass"))) for q in event.get(name) or []]
    return found


async def batches_named(
    session: AsyncSession, organisation_id: int | None, values: Iterable[str]
) -> dict[str, TraceBatch]:
    """Identifier -> batch, for identifiers naming a batch (GTIN + lot, or urn:linli:batch)."""
    by_lot: dict[tuple[str, str], list[str]] = {}
    by_code: dict[str, list[str]] = {}
    for value in set(values):
        if value.startswith(LINLI_BATCH):
            by_code.setdefault(value[len(LINLI_BATCH) :], []).append(value)
            continue
        pair = digital_link.gtin_and_lot(value)
        if pair is not None:
            by_lot.setdefault(pair, []).append(value)
    found: dict[str, TraceBatch] = {}
    if by_lot:
        query = select(TraceBatch).where(
            TraceBatch.gtin.in_({g for g, _ in by_lot}),
            TraceBatch.lot.in_({lot for _, lot in by_lot}),
        )
        if organisation_id is not None:
            query = query.where(TraceBatch.organisation_id == organisation_id)
        for batch in await session.scalars(query):
            for value in by_lot.get((batch.gtin or "", batch.lot), []):
                found[value] = batch
    if by_code:
        query = select(TraceBatch).where(TraceBatch.code.in_(by_code))
        if organisation_id is not None:
            query = query.where(TraceBatch.organisation_id == organisation_id)
        for batch in await session.scalars(query):
            for value in by_code[batch.code]:
                found[value] = batch
    return found


def _link_hash(prev_hash: str, hash_id: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{hash_id}|{content_sha256}".encode()).hexdigest()


async def _append(
    session: AsyncSession, chain: str, organisation_id: int, event: TraceEvent
) -> TraceChainLink:
    head = await session.scalar(
        select(TraceChainHead)
        .where(TraceChainHead.chain == chain)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if head is None:
        head = TraceChainHead(
            chain=chain, organisation_id=organisation_id, length=0, head_hash=GENESIS
        )
        session.add(head)
    link = TraceChainLink(
        chain=chain,
        seq=head.length + 1,
        event_pk=event.id,
        prev_hash=head.head_hash,
        chain_hash=_link_hash(head.head_hash, event.hash_id, event.content_sha256),
    )
    session.add(link)
    head.length = link.seq
    head.head_hash = link.chain_hash
    await session.flush()
    return link


async def record_event(
    session: AsyncSession,
    organisation_id: int,
    event: dict[str, Any],
    *,
    batches: Sequence[TraceBatch] = (),
) -> TraceEvent:
    """Store an event the platform generated (already valid EPCIS 2.0 JSON) and chain it on
    the chain of every batch it names (found from its identifiers, plus `batches`)."""
    event = dict(event)
    event.setdefault("eventTimeZoneOffset", "+08:00")
    hash_id = eventhash.event_hash_id(event)
    event.setdefault("eventID", hash_id)
    named = await batches_named(session, organisation_id, [v for _, v in identifiers(event)])
    all_batches = {b.id: b for b in [*named.values(), *batches]}
    document = canonical(event)
    now = clock.now()
    read_point = (event.get("readPoint") or {}).get("id")
    biz_location = (event.get("bizLocation") or {}).get("id")
    ordered = sorted(all_batches)
    row = TraceEvent(
        organisation_id=organisation_id,
        batch_id=ordered[0] if ordered else None,
        capture_id=None,
        event_id=str(event["eventID"])[:300],
        hash_id=hash_id,
        event_type=str(event["type"]),
        action=event.get("action"),
        event_time=datetime.fromisoformat(str(event["eventTime"])),
        event_time_zone_offset=str(event["eventTimeZoneOffset"]),
        record_time=now,
        biz_step=event.get("bizStep"),
        disposition=event.get("disposition"),
        read_point=read_point,
        biz_location=biz_location,
        is_correction="errorDeclaration" in event,
        document=document,
        content_sha256=hashlib.sha256(document.encode("utf-8")).hexdigest(),
    )
    session.add(row)
    await session.flush()
    for kind, value in identifiers(event):
        session.add(TraceEventEpc(event_pk=row.id, kind=kind, value=value[:300]))
    for batch_id in ordered:
        session.add(TraceEventBatch(event_pk=row.id, batch_id=batch_id))
    await session.flush()
    for batch_id in ordered:
        await _append(session, f"batch:{batch_id}", all_batches[batch_id].organisation_id, row)
    if not ordered:
        await _append(session, f"org:{organisation_id}", organisation_id, row)
    return row


def object_event(
    batch: TraceBatch,
    *,
    biz_step: str,
    when: datetime | None = None,
    disposition: str | None = None,
    read_point: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An OBSERVE ObjectEvent about one batch (its lot as an EPC class, no quantity)."""
    moment = when or clock.now()
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": moment.isoformat(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [],
        "quantityList": [{"epcClass": batch_class(batch)}],
        "action": "OBSERVE",
        "bizStep": biz_step,
    }
    if disposition:
        event["disposition"] = disposition
    if read_point:
        event["readPoint"] = {"id": read_point}
    event.update(extra or {})
    return event


@dataclass(frozen=True)
class ChainCheck:
    chain: str
    ok: bool
    length: int
    problem: str | None = None


async def verify_chain(session: AsyncSession, chain: str) -> ChainCheck:
    """Recompute every link of a chain from the stored events: contents, hashes, order,
    and the head (so a deleted newest link is found too)."""
    head = await session.get(TraceChainHead, chain)
    rows = (
        await session.execute(
            select(TraceChainLink, TraceEvent)
            .join(TraceEvent, TraceEvent.id == TraceChainLink.event_pk)
            .where(TraceChainLink.chain == chain)
            .order_by(TraceChainLink.seq)
        )
    ).all()
    previous = GENESIS
    for n, (link, event) in enumerate(rows, start=1):
        content = hashlib.sha256(event.document.encode("utf-8")).hexdigest()
        if link.seq != n:
            return ChainCheck(chain, False, len(rows), f"link {n} is missing")
        if content != event.content_sha256:
            return ChainCheck(chain, False, len(rows), f"event of link {n} was altered")
        if link.prev_hash != previous or link.chain_hash != _link_hash(
            previous, event.hash_id, content
        ):
            return ChainCheck(chain, False, len(rows), f"link {n} does not follow its predecessor")
        previous = link.chain_hash
    if head is None:
        ok = not rows
        return ChainCheck(chain, ok, len(rows), None if ok else "the chain has no head")
    if head.length != len(rows) or head.head_hash != previous:
        return ChainCheck(chain, False, len(rows), "the chain is shorter than its head says")
    return ChainCheck(chain, True, len(rows))


async def verify_batch_chain(session: AsyncSession, batch_id: int) -> ChainCheck:
    return await verify_chain(session, f"batch:{batch_id}")

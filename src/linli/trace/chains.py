"""Storing events on the hash chains.

Every stored event is appended to one hash chain per batch it names (`batch:{id}`), or to
its organisation's chain (`org:{id}`) when it names none of that organisation's batches.
`record_generated_event` stores an event the platform generated; capture stores a document's
events through `store_all`; `chain_of` reads a batch's chain back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.errors import Conflict
from linli.i18n import N_
from linli.trace import eventhash
from linli.trace.columns import columns_of
from linli.trace.hashing import GENESIS, canonical_json, chain_hash, sha256_hex
from linli.trace.identifiers import LINLI_BATCH, epcs_of, lots_named, raw_epcs_of
from linli.trace.models import (
    TraceBatch,
    TraceChainHead,
    TraceChainLink,
    TraceEvent,
    TraceEventBatch,
    TraceEventEpc,
)


def batch_chain(batch_id: int) -> str:
    return f"batch:{batch_id}"


def org_chain(organisation_id: int) -> str:
    return f"org:{organisation_id}"


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
    pending = Pending(event, eventhash.event_hash_id(event), [chosen[i] for i in sorted(chosen)])
    (row,) = await store_all(session, organisation_id, [pending], None)
    return row


@dataclass
class Pending:
    """An event about to be stored: its document, hash id and the batches it names."""

    event: dict[str, Any]
    hash_id: str
    batches: list[TraceBatch]


async def store_all(
    session: AsyncSession, organisation_id: int, pending: list[Pending], capture_id: int | None
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


def _event_row(organisation_id: int, item: Pending, capture_id: int | None) -> TraceEvent:
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


def batch_resolver(session: AsyncSession, organisation_id: int) -> Any:
    """_batches_named for many events, looking each (GTIN, lot) up once."""
    cache: dict[tuple[str, str], TraceBatch | None] = {}

    async def resolve(event: dict[str, Any]) -> list[TraceBatch]:
        pairs = lots_named(event)
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
    resolve = batch_resolver(session, organisation_id)
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

"""Storing events on the hash chains.

Every stored event is appended to one hash chain per batch it names (`batch:{id}`), or to
its organisation's chain (`org:{id}`) when it names none of that organisation's batches.
`record_generated_event` stores an event the platform generated; capture stores a document's
events through `store_all`; `chain_of` reads a batch's chain back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.dialects import postgresql
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
    (event_pk,) = await store_all(session, organisation_id, [pending], None)
    row = await session.get(TraceEvent, event_pk)
    assert row is not None
    return row


@dataclass
class Pending:
    """An event about to be stored: its document, hash id and the batches it names."""

    event: dict[str, Any]
    hash_id: str
    batches: list[TraceBatch]


async def store_all(
    session: AsyncSession, organisation_id: int, pending: list[Pending], capture_id: int | None
) -> list[int]:
    """Insert the events, their EPC and batch rows, and append them to their chains; the
    events' primary keys, in order.

    Six statements per document, whatever its size: the events in one multi-row INSERT, their
    EPC rows and batch rows in one each; then the chain heads locked in one statement (sorted,
    so concurrent captures cannot deadlock; two more when a chain is new), the links (computed
    in memory) in one INSERT, and every head moved in one UPDATE, conditionally on the length
    it was locked at. The heads are locked last: documents naming the same lots wait for each
    other from that lock to their commit, so nothing that does not need the lock is done
    while holding it.
    """
    if not pending:
        return []
    chains = [_chains(organisation_id, item.batches) for item in pending]
    rows = [_event_row(organisation_id, item, capture_id) for item in pending]
    # Matched back by (event_id, is_correction), unique per organisation (an error
    # declaration repeats its event's eventID): asking SQLAlchemy to keep the parameters'
    # order instead would make it insert one row per statement on SQLite.
    inserted = await _insert_many(
        session, _table(TraceEvent), rows, returning=("event_id", "is_correction", "id")
    )
    pk_of = {(event_id, bool(correction)): pk for event_id, correction, pk in inserted}
    event_pks = [pk_of[(row["event_id"], row["is_correction"])] for row in rows]
    epcs = [
        {"event_pk": event_pk, "kind": kind, "value": value}
        for event_pk, item in zip(event_pks, pending, strict=True)
        for kind, value in sorted(epcs_of(item.event))
    ]
    batch_rows = [
        {"event_pk": event_pk, "batch_id": b.id}
        for event_pk, item in zip(event_pks, pending, strict=True)
        for b in item.batches
    ]
    for model, values in ((TraceEventEpc, epcs), (TraceEventBatch, batch_rows)):
        if values:
            await _insert_many(session, _table(model), values)
    state = await _lock_heads(session, organisation_id, {c for cs in chains for c in cs})
    locked = dict(state)
    links = []
    for event_pk, row, row_chains in zip(event_pks, rows, chains, strict=True):
        for chain in row_chains:
            length, prev = state[chain]
            link_hash = chain_hash(prev, row["hash_id"], row["content_sha256"])
            links.append(
                {
                    "chain": chain,
                    "seq": length + 1,
                    "event_pk": event_pk,
                    "prev_hash": prev,
                    "chain_hash": link_hash,
                }
            )
            state[chain] = (length + 1, link_hash)
    await _insert_many(session, _table(TraceChainLink), links)
    await _move_heads(session, locked, state)
    return event_pks


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def _insert_many(
    session: AsyncSession,
    table: Table,
    values: list[dict[str, Any]],
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """The rows in one multi-row INSERT; the `returning` columns of each row inserted.

    On PostgreSQL, `INSERT ... SELECT * FROM unnest(:column1, :column2, ...)`: one array per
    column, encoded by asyncpg, the statement's text the same for any number of rows. (The
    values go through each column type's bind processing first, as SQLAlchemy's would.)
    Elsewhere SQLAlchemy's "insertmanyvalues" (multi-row VALUES, per 1,000 rows), which
    RETURNING makes it use."""
    if session.get_bind().dialect.name != "postgresql":
        result = await session.execute(
            insert(table).returning(*(table.c[name] for name in returning)), values
        )
        return [tuple(row) for row in result.all()]
    dialect = session.get_bind().dialect
    names = list(values[0])
    statement = _unnest_insert(table, tuple(names), returning)
    arrays: dict[str, list[Any]] = {}
    for n, name in enumerate(names):
        process = table.c[name].type.bind_processor(dialect)
        column = [row[name] for row in values]
        arrays[f"c{n}"] = [process(v) for v in column] if process else column
    result = await session.execute(statement, arrays)
    return [tuple(row) for row in result.all()]


@cache
def _unnest_insert(table: Table, names: tuple[str, ...], returning: tuple[str, ...]) -> Any:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(
        f"CAST(:c{n} AS {table.c[name].type.compile(dialect=dialect)}[])"
        for n, name in enumerate(names)
    )
    # Only our own table and column names go into the text; the values are parameters.
    return text(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"  # noqa: S608
        f" RETURNING {', '.join(returning)}"
    )


def _chains(organisation_id: int, batches: Sequence[TraceBatch]) -> list[str]:
    return [batch_chain(b.id) for b in batches] or [org_chain(organisation_id)]


def _event_row(organisation_id: int, item: Pending, capture_id: int | None) -> dict[str, Any]:
    document = canonical_json(item.event)
    return {
        "organisation_id": organisation_id,
        "batch_id": item.batches[0].id if item.batches else None,
        "capture_id": capture_id,
        "hash_id": item.hash_id,
        "record_time": clock.now(),
        "document": document,
        "content_sha256": sha256_hex(document),
        **columns_of(item.event, item.hash_id),
    }


async def batches_named_by(
    session: AsyncSession, organisation_id: int, events: Sequence[dict[str, Any]]
) -> list[list[TraceBatch]]:
    """For each event, the organisation's batches it names (by GTIN and lot, or by our own
    `urn:linli:batch:` code), in id order: two queries at most for the whole document."""
    pairs = [lots_named(event) for event in events]
    codes = [
        {
            value.removeprefix(LINLI_BATCH)
            for _kind, value in raw_epcs_of(event)
            if value.startswith(LINLI_BATCH)
        }
        for event in events
    ]
    by_lot = await _batches_by_lot(session, organisation_id, set().union(*pairs))
    by_code = await _batches_by_code(session, organisation_id, set().union(*codes))
    found: list[list[TraceBatch]] = []
    for event_pairs, event_codes in zip(pairs, codes, strict=True):
        named = {b.id: b for p in event_pairs if (b := by_lot.get(p)) is not None}
        named.update({b.id: b for c in event_codes if (b := by_code.get(c)) is not None})
        found.append([named[i] for i in sorted(named)])
    return found


async def _batches_by_lot(
    session: AsyncSession, organisation_id: int, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], TraceBatch]:
    if not pairs:
        return {}
    query = select(TraceBatch).where(
        TraceBatch.organisation_id == organisation_id,
        TraceBatch.gtin.in_({gtin for gtin, _lot in pairs}),
        TraceBatch.lot.in_({lot for _gtin, lot in pairs}),
    )
    batches = (await session.scalars(query)).all()
    return {key: b for b in batches if (key := (b.gtin or "", b.lot)) in pairs}


async def _batches_by_code(
    session: AsyncSession, organisation_id: int, codes: set[str]
) -> dict[str, TraceBatch]:
    if not codes:
        return {}
    query = select(TraceBatch).where(
        TraceBatch.organisation_id == organisation_id, TraceBatch.code.in_(codes)
    )
    return {b.code: b for b in (await session.scalars(query)).all()}


async def _batches_named(
    session: AsyncSession, organisation_id: int, event: dict[str, Any]
) -> list[TraceBatch]:
    """The organisation's batches the event names by GTIN and lot, in id order."""
    (batches,) = await batches_named_by(session, organisation_id, [event])
    return batches


Head = tuple[int, str]  # (length, head hash)


async def _lock_heads(
    session: AsyncSession, organisation_id: int, chains: set[str]
) -> dict[str, Head]:
    """Lock the heads of `chains` in one statement, in chain order (two writers of
    overlapping chains take their locks in the same order, so neither waits on the other
    while holding what it needs); heads missing yet are made first, in the same order."""
    heads = await _select_heads(session, chains)
    missing = sorted(chains - heads.keys())
    if missing:
        insert_ = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert_(TraceChainHead)
            .values(
                [
                    {
                        "chain": chain,
                        "organisation_id": organisation_id,
                        "length": 0,
                        "head_hash": GENESIS,
                    }
                    for chain in missing
                ]
            )
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        heads = await _select_heads(session, chains)
    assert heads.keys() == chains
    return heads


async def _select_heads(session: AsyncSession, chains: set[str]) -> dict[str, Head]:
    """SELECT ... ORDER BY chain FOR UPDATE: PostgreSQL locks the rows as the sorted scan
    returns them. (SQLite serialises writers with BEGIN IMMEDIATE and ignores FOR UPDATE.)"""
    head = _table(TraceChainHead).c
    rows = await session.execute(
        select(head.chain, head.length, head.head_hash)
        .where(head.chain.in_(sorted(chains)))
        .order_by(head.chain)
        .with_for_update()
    )
    return {chain: (length, hash_) for chain, length, hash_ in rows.all()}


# Moving the heads: one statement of fixed text whatever the number of chains (an expression
# built per document would be compiled anew each time), the moves passed as arrays
# (PostgreSQL) or as one JSON array (SQLite).
_MOVE_HEADS_POSTGRESQL = text(
    "UPDATE trace_chain_heads AS h SET length = m.new_length, head_hash = m.head_hash"
    " FROM unnest(CAST(:chains AS varchar[]), CAST(:old AS integer[]),"
    " CAST(:new AS integer[]), CAST(:hashes AS varchar[]))"
    " AS m (chain, old_length, new_length, head_hash)"
    " WHERE h.chain = m.chain AND h.length = m.old_length"
)
_MOVE_HEADS_SQLITE = text(
    "UPDATE trace_chain_heads SET length = json_extract(m.value, '$[2]'),"
    " head_hash = json_extract(m.value, '$[3]') FROM json_each(:moves) AS m"
    " WHERE trace_chain_heads.chain = json_extract(m.value, '$[0]')"
    " AND trace_chain_heads.length = json_extract(m.value, '$[1]')"
)


async def _move_heads(
    session: AsyncSession, locked: dict[str, Head], moved: dict[str, Head]
) -> None:
    """Every head that grew, in one UPDATE, each only if it is still at the length it was
    locked at; a head another writer moved meanwhile is a Conflict, never a forked chain."""
    grown = sorted(chain for chain in moved if moved[chain] != locked[chain])
    if not grown:
        return
    if session.get_bind().dialect.name == "postgresql":
        statement, parameters = (
            _MOVE_HEADS_POSTGRESQL,
            {
                "chains": grown,
                "old": [locked[c][0] for c in grown],
                "new": [moved[c][0] for c in grown],
                "hashes": [moved[c][1] for c in grown],
            },
        )
    else:
        moves = [[c, locked[c][0], *moved[c]] for c in grown]
        statement, parameters = _MOVE_HEADS_SQLITE, {"moves": json.dumps(moves)}
    result = await session.execute(statement, parameters)
    if result.rowcount != len(grown):  # type: ignore[attr-defined]
        raise Conflict(N_("Another capture changed this trace chain; try again."))


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

"""The chain verification half of bench/trace.py (issue 14, item 4).

`seed_chains` appends `links` links to `chains` organisation chains (`org:{id}`) directly in
the database: every row is computed with the product's own functions (canonical JSON, the CBV
event hash, the derived columns, SHA-256, the chain hash) and inserted in bulk (COPY on
PostgreSQL, one executemany on SQLite), so 100,000 links take seconds instead of the minutes
capture over HTTP would. No EPC or batch rows are written: verification does not read them.

`measure` then times, on one warm connection (one session, a warm-up run first), `repeat`
rounds of `verification.verify_chains(session)` (the default method: in the database on
PostgreSQL, the lean Python walk on SQLite) interleaved with a bare hashlib loop over the same
bytes, and takes the medians; the auditor's independent Python walk and the deep walk (which
also re-derives every event's columns) are timed too.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from linli.accounts.models import Organisation
from linli.db import make_engine, make_sessionmaker
from linli.migrate import upgrade
from linli.trace import eventhash, verification
from linli.trace.columns import columns_of
from linli.trace.hashing import GENESIS, canonical_json, chain_hash, sha256_hex
from linli.trace.models import TraceChainHead, TraceChainLink, TraceEvent

GTIN_CLASS = "urn:epc:class:lgtin:4012345.012345."
EVENT_COLUMNS = [c.name for c in TraceEvent.__table__.c]
LINK_COLUMNS = ["id", "chain", "seq", "event_pk", "prev_hash", "chain_hash"]


def log(message: str) -> None:
    print(f"[trace-verify] {message}", file=sys.stderr, flush=True)


def _event(n: int, lot: str) -> dict[str, Any]:
    """An ObjectEvent like the capture half's (same fields, about 390 bytes stored)."""
    return {
        "type": "ObjectEvent",
        "eventTime": f"2024-05-02T08:{(n // 60) % 10:02d}:{n % 60:02d}.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "action": "OBSERVE",
        "epcList": [],
        "quantityList": [{"epcClass": GTIN_CLASS + lot, "quantity": 20, "uom": "KGM"}],
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
    }


class _HashIds:
    """The CBV event hash of each event. It leaves eventID out, so events differing only in
    their eventID share it: computed once per (time, lot) by the product's own function."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def of(self, event: dict[str, Any]) -> str:
        key = (event["eventTime"], event["quantityList"][0]["epcClass"])
        if key not in self._known:
            self._known[key] = eventhash.event_hash_id(event)
        return self._known[key]


@dataclass
class _Rows:
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    heads: list[dict[str, Any]]


def _rows(organisations: Sequence[int], links: int, first_event: int, first_link: int) -> _Rows:
    """Event, link and head rows: link n goes to chain n mod len(organisations)."""
    now = datetime.now(UTC)
    hash_ids = _HashIds()
    state = {org: (0, GENESIS) for org in organisations}
    events: list[dict[str, Any]] = []
    chain_links: list[dict[str, Any]] = []
    for n in range(links):
        org = organisations[n % len(organisations)]
        event = _event(n, f"V{org}")
        hash_id = hash_ids.of(event)
        document = canonical_json(event)
        content = sha256_hex(document)
        pk = first_event + n
        events.append(
            {
                "id": pk,
                "organisation_id": org,
                "batch_id": None,
                "capture_id": None,
                "hash_id": hash_id,
                "record_time": now,
                "document": document,
                "content_sha256": content,
                **columns_of(event, hash_id),
            }
        )
        length, prev = state[org]
        link_hash = chain_hash(prev, hash_id, content)
        chain_links.append(
            {
                "id": first_link + n,
                "chain": f"org:{org}",
                "seq": length + 1,
                "event_pk": pk,
                "prev_hash": prev,
                "chain_hash": link_hash,
            }
        )
        state[org] = (length + 1, link_hash)
    heads = [
        {"chain": f"org:{org}", "organisation_id": org, "length": length, "head_hash": head}
        for org, (length, head) in state.items()
    ]
    return _Rows(events, chain_links, heads)


async def migrate(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def seed_chains(database_url: str, *, links: int, chains: int) -> None:
    """`links` correct links on `chains` new organisations' chains, inserted in bulk."""
    started = time.perf_counter()
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            organisations = await _organisations(connection, chains)
            first_event = 1 + (await connection.scalar(select(func.max(TraceEvent.id))) or 0)
            first_link = 1 + (await connection.scalar(select(func.max(TraceChainLink.id))) or 0)
            rows = _rows(organisations, links, first_event, first_link)
            computed = time.perf_counter() - started
            await connection.execute(insert(TraceChainHead), rows.heads)
            if connection.dialect.name == "postgresql":
                await _copy(connection, rows)
            else:
                await connection.execute(insert(TraceEvent), rows.events)
                await connection.execute(insert(TraceChainLink), rows.links)
        if engine.dialect.name == "postgresql":
            # As autovacuum would soon (and would otherwise do during the timed rounds).
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(
                    text("VACUUM (ANALYZE) trace_events, trace_chain_links, trace_chain_heads")
                )
    finally:
        await engine.dispose()
    log(
        f"seeded {links} links on {chains} chains in {time.perf_counter() - started:.1f} s"
        f" ({computed:.1f} s computing them)"
    )


async def _organisations(connection: AsyncConnection, count: int) -> list[int]:
    now = datetime.now(UTC)
    values = [{"kind": "merchant", "name": f"验链{i}", "created_at": now} for i in range(count)]
    result = await connection.execute(
        insert(Organisation).returning(Organisation.id, sort_by_parameter_order=True), values
    )
    return [int(row[0]) for row in result]


async def _copy(connection: AsyncConnection, rows: _Rows) -> None:
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        "trace_events",
        records=[tuple(row[c] for c in EVENT_COLUMNS) for row in rows.events],
        columns=EVENT_COLUMNS,
    )
    await driver.copy_records_to_table(
        "trace_chain_links",
        records=[tuple(row[c] for c in LINK_COLUMNS) for row in rows.links],
        columns=LINK_COLUMNS,
    )
    for table in ("trace_events", "trace_chain_links"):
        setval = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
        await connection.execute(text(setval))


# --- measuring ---------------------------------------------------------------------------


@dataclass
class VerifyFigures:
    chains: int
    links: int
    ok: bool
    seconds: list[float]  # verify_chains, default method, each round
    raw_seconds: list[float]  # bare hashlib over the same bytes, each round
    independent_seconds: list[float]
    deep_seconds: list[float]

    def as_dict(self) -> dict[str, Any]:
        verify, raw = statistics.median(self.seconds), statistics.median(self.raw_seconds)
        figures: dict[str, Any] = {
            "verify_chains": self.chains,
            "verify_links": self.links,
            "verify_rounds": len(self.seconds),
            "verify_seconds": round(verify, 4),
            "verify_links_per_s": round(self.links / verify, 1),
            "raw_hashlib_seconds": round(raw, 4),
            "raw_hashlib_links_per_s": round(self.links / raw, 1),
            "verify_vs_raw_ratio": round(raw / verify, 4),
        }
        for name, runs in (("independent", self.independent_seconds), ("deep", self.deep_seconds)):
            if runs:
                median = statistics.median(runs)
                figures[f"verify_{name}_links_per_s"] = round(self.links / median, 1)
                figures[f"verify_{name}_vs_raw_ratio"] = round(raw / median, 4)
        return figures


async def measure(
    database_url: str, *, repeat: int = 5, independent_repeat: int = 1, deep_repeat: int = 1
) -> VerifyFigures:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine, reading=True)() as session:
            rows = await _hashed_bytes(session)
            first = await verification.verify_chains(session)  # warm-up: plans, buffers
            ok = not first.broken_links
            seconds, raw_seconds = [], []
            for _ in range(repeat):  # interleaved, so load from other work weighs on both
                result, took = await _timed(lambda: verification.verify_chains(session))
                ok = ok and not result.broken_links
                seconds.append(took)
                raw_seconds.append(_timed_raw(rows))
            independent = [
                await _timed_ok(lambda: verification.verify_chains(session, independent=True))
                for _ in range(independent_repeat)
            ]
            deep = [
                await _timed_ok(lambda: verification.verify_chains(session, deep=True))
                for _ in range(deep_repeat)
            ]
    finally:
        await engine.dispose()
    if any(t is None for t in [*independent, *deep]):
        ok = False
    return VerifyFigures(
        first.chains,
        first.links,
        ok,
        seconds,
        raw_seconds,
        [t for t in independent if t is not None],
        [t for t in deep if t is not None],
    )


async def _timed(
    run: Callable[[], Awaitable[verification.Verification]],
) -> tuple[verification.Verification, float]:
    started = time.perf_counter()
    result = await run()
    return result, time.perf_counter() - started


async def _timed_ok(run: Callable[[], Awaitable[verification.Verification]]) -> float | None:
    result, took = await _timed(run)
    return None if result.broken_links else took


async def _hashed_bytes(session: AsyncSession) -> list[tuple[str, str, str]]:
    """What the bare loop hashes: every link's previous hash, its event's hash id and
    document (fetched beforehand: the floor is the hashing alone)."""
    result = await session.execute(
        text(
            "SELECT l.prev_hash, e.hash_id, e.document"
            " FROM trace_chain_links l JOIN trace_events e ON e.id = l.event_pk"
            " ORDER BY l.chain, l.seq"
        )
    )
    return [(str(p), str(h), str(d)) for p, h, d in result.all()]


def _timed_raw(rows: Sequence[tuple[str, str, str]]) -> float:
    started = time.perf_counter()
    raw_chain(rows)
    return time.perf_counter() - started


def raw_chain(rows: Sequence[tuple[str, str, str]]) -> None:
    """The physical floor: the same two SHA-256 per link over the same bytes, nothing else."""
    for prev, hash_id, doc in rows:
        content = hashlib.sha256(doc.encode("utf-8")).hexdigest()
        hashlib.sha256(f"{prev}|{hash_id}|{content}".encode()).hexdigest()

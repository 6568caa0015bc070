"""Verifying the hash chains (`linli trace verify`, the batch API, the trace page).

A link is broken when, checked in this order (the first check that fails names the problem):

1. the link before it (`seq - 1`) is missing (reported at the first missing position);
2. its event is missing;
3. the event's document does not hash to its `content_sha256`;
4. its `prev_hash` is not the hash of the link before it (`GENESIS` for link 1);
5. its hash is not `chain_hash(prev_hash, hash_id, content_sha256)`;
6. deep verification only: the event's indexed columns differ from what its document gives.

A chain whose newest link is not its head's (length and hash) is broken one past its newest
link ("the newest link is missing"). Every check looks at one link, its event and the link
before it, so every broken link is found, and two walks that follow these rules find the same
ones (tests/trace/test_verify_differential.py holds them to it):

- **in the database** (`verification_sql`, PostgreSQL's default): `sha256()` over every link in
  one statement that returns only the broken links;
- **in Python** (SQLite's default, and `independent=True` on any database: an auditor's check
  that trusts the database only to hand over the stored bytes): keyset chunks of plain values,
  the document as bytes;
- **deep** (`deep=True`): the Python walk plus check 6. The trace page uses it, because the
  journey it shows is read from those columns. docs/decisions.md, "Chain verification".

`verified.py` caches the answer per batch for the trace page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, Select, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace import verification_sql
from linli.trace.chains import batch_chain
from linli.trace.columns import columns_of
from linli.trace.hashing import GENESIS
from linli.trace.models import TraceChainHead, TraceChainLink, TraceEvent
from linli.trace.verification_sql import (
    COLUMNS_DIFFER,
    DOCUMENT_CHANGED,
    DOES_NOT_FOLLOW,
    EVENT_MISSING,
    HASH_MISMATCH,
    MISSING_BEFORE,
    NEWEST_MISSING,
    PROBLEMS,
    Scope,
)

CHUNK = 5000  # links per keyset page of the Python walk
DERIVED = (  # the columns `columns_of` derives from a document, checked by deep verification
    "event_id",
    "event_type",
    "action",
    "event_time",
    "event_time_zone_offset",
    "biz_step",
    "disposition",
    "read_point",
    "biz_location",
    "is_correction",
)


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
    broken_links: tuple[BrokenLink, ...] = ()  # every broken link, by chain and position

    @property
    def broken(self) -> BrokenLink | None:
        """The first broken link (of the first broken chain), or None."""
        return self.broken_links[0] if self.broken_links else None


async def verify_chains(
    session: AsyncSession,
    batch_id: int | None = None,
    *,
    organisation_id: int | None = None,
    independent: bool = False,
    deep: bool = False,
) -> Verification:
    """Check every chain (of one batch, of one organisation): in the database on PostgreSQL;
    in this process on SQLite, with `independent` (the hashes recomputed by Python's hashlib)
    or with `deep` (the Python walk that also re-derives every event's columns)."""
    scope = Scope(batch_chain(batch_id) if batch_id is not None else None, organisation_id)
    if session.get_bind().dialect.name == "postgresql" and not (independent or deep):
        chains, links, found = await verification_sql.broken_links(session, scope)
    else:
        chains, links, found = await _walk(session, scope, deep=deep)
    broken = tuple(
        BrokenLink(chain, seq, event_id, PROBLEMS[problem])
        for chain, seq, event_id, problem in sorted(found, key=lambda b: (b[0], b[1]))
    )
    return Verification(chains, links, broken)


Found = tuple[str, int, str | None, int]  # chain, seq, event id, problem


async def _walk(session: AsyncSession, scope: Scope, *, deep: bool) -> tuple[int, int, list[Found]]:
    heads = await _heads(session, scope)
    connection = await session.connection()  # plain rows: no ORM loading
    found: list[Found] = []
    newest: dict[str, tuple[int, str]] = {}
    links, after = 0, None
    while True:
        rows = (await connection.execute(_chunk(session, scope, after, deep=deep))).all()
        for row in rows:
            chain, seq = row[0], row[1]
            before = newest.get(chain, (0, GENESIS))
            problem = _link_problem(row, before, deep=deep)
            if problem == MISSING_BEFORE:  # reported where the gap starts
                found.append((chain, before[0] + 1, row[4], problem))
            elif problem is not None:
                found.append((chain, seq, row[4], problem))
            newest[chain] = (seq, row[3])
        links += len(rows)
        if len(rows) < CHUNK:
            break
        after = (rows[-1][0], rows[-1][1])
    for chain, head in heads.items():
        seq, hash_ = newest.get(chain, (0, GENESIS))
        if (seq, hash_) != head:
            found.append((chain, seq + 1, None, NEWEST_MISSING))
    return len(heads), links, found


async def _heads(session: AsyncSession, scope: Scope) -> dict[str, tuple[int, str]]:
    query = select(TraceChainHead.chain, TraceChainHead.length, TraceChainHead.head_hash)
    rows = await session.execute(query.where(*_head_conditions(scope)))
    return {chain: (length, hash_) for chain, length, hash_ in rows.all()}


def _head_conditions(scope: Scope) -> list[Any]:
    conditions = []
    if scope.chain is not None:
        conditions.append(TraceChainHead.chain == scope.chain)
    if scope.organisation_id is not None:
        conditions.append(TraceChainHead.organisation_id == scope.organisation_id)
    return conditions


def _chunk(
    session: AsyncSession, scope: Scope, after: tuple[str, int] | None, *, deep: bool
) -> Select[Any]:
    """The next CHUNK links of the chains in scope (by chain, then position) with what
    checking them needs: plain strings, the document as its UTF-8 bytes."""
    link, event = TraceChainLink, TraceEvent
    query = (
        select(
            link.chain,
            link.seq,
            link.prev_hash,
            link.chain_hash,
            event.event_id,
            event.hash_id,
            event.content_sha256,
            _document_bytes(session),
            *([event.__table__.c[name] for name in DERIVED] if deep else []),
        )
        .select_from(link)
        .join(TraceChainHead, TraceChainHead.chain == link.chain)
        .outerjoin(event, event.id == link.event_pk)
        .where(*_head_conditions(scope))
        .order_by(link.chain, link.seq)
        .limit(CHUNK)
    )
    if after is not None:  # spelled as a range on the chain, so the (chain, seq) index seeks
        chain, seq = after
        query = query.where(link.chain >= chain, or_(link.chain > chain, link.seq > seq))
    return query


def _document_bytes(session: AsyncSession) -> Any:
    # PostgreSQL's text-to-bytea cast would read backslashes as escapes: convert_to instead.
    if session.get_bind().dialect.name == "postgresql":
        return func.convert_to(TraceEvent.document, literal("UTF8"), type_=LargeBinary)
    return cast(TraceEvent.document, LargeBinary)


def _link_problem(row: Sequence[Any], before: tuple[int, str], *, deep: bool) -> int | None:
    """What is wrong with one link (a row of `_chunk`) following `before` (seq, hash)."""
    _chain, seq, prev_hash, link_hash, _event_id, hash_id, content, document = row[:8]
    if seq != before[0] + 1:
        return MISSING_BEFORE
    if hash_id is None:
        return EVENT_MISSING
    if hashlib.sha256(document).hexdigest() != content:
        return DOCUMENT_CHANGED
    if prev_hash != before[1]:
        return DOES_NOT_FOLLOW
    if hashlib.sha256(f"{prev_hash}|{hash_id}|{content}".encode()).hexdigest() != link_hash:
        return HASH_MISMATCH
    if deep and not _columns_match(hash_id, document, row[8:]):
        return COLUMNS_DIFFER
    return None


def _columns_match(hash_id: str, document: bytes, stored: Sequence[Any]) -> bool:
    try:
        expected = columns_of(json.loads(document), hash_id)
    except (ValueError, KeyError, TypeError):
        return False
    return expected == dict(zip(DERIVED, stored, strict=True))

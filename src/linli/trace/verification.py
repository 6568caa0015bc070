"""Verifying the hash chains (`linli trace verify`, the batch API): every link follows the
previous one, hashes its event, and the event's document and columns are unchanged.
`verified.py` caches the answer per batch for the trace page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace.chains import batch_chain
from linli.trace.columns import columns_of
from linli.trace.hashing import GENESIS, chain_hash, sha256_hex
from linli.trace.models import TraceChainHead, TraceChainLink, TraceEvent


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

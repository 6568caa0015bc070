"""The verified state of a batch's hash chain, cached per batch.

Verifying a chain reads and hashes every link; the public trace page needs the answer on
every view. The answer is kept per batch together with the chain head it was computed at
(length and last hash, one indexed row): a new link moves the head, so the next lookup sees
a different head and verifies again, in this process or any other. An answer older than
`max_age` is verified again too, so a change to a stored event that adds no link (tampering
in the database itself) is still reported within that time.

One implementation for every page that shows whether a batch's records verify
(`verified_chain(session, batch_id)`)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.trace import chains, generated
from linli.trace.models import TraceChainHead

MAX_AGE = timedelta(minutes=10)
MAX_BATCHES = 10_000  # answers kept; the least recently used are dropped first


@dataclass(frozen=True)
class _Entry:
    head: tuple[int, str] | None
    check: generated.ChainCheck
    checked_at: datetime


@dataclass
class VerifiedChains:
    max_age: timedelta = MAX_AGE
    max_batches: int = MAX_BATCHES
    _entries: OrderedDict[int, _Entry] = field(default_factory=OrderedDict)
    verifications: int = 0  # how many times a chain was actually walked (tests, metrics)

    async def get(self, session: AsyncSession, batch_id: int) -> generated.ChainCheck:
        head = await _head(session, batch_id)
        now = clock.now()
        entry = self._entries.get(batch_id)
        if entry is not None and entry.head == head and now - entry.checked_at < self.max_age:
            self._entries.move_to_end(batch_id)
            return entry.check
        check = await generated.verify_batch_chain(session, batch_id)
        self.verifications += 1
        self._entries[batch_id] = _Entry(head, check, now)
        self._entries.move_to_end(batch_id)
        while len(self._entries) > self.max_batches:
            self._entries.popitem(last=False)
        return check

    def invalidate(self, batch_id: int) -> None:
        self._entries.pop(batch_id, None)


async def _head(session: AsyncSession, batch_id: int) -> tuple[int, str] | None:
    row = (
        await session.execute(
            select(TraceChainHead.length, TraceChainHead.head_hash).where(
                TraceChainHead.chain == chains.batch_chain(batch_id)
            )
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), str(row[1]))


CACHE = VerifiedChains()


async def verified_chain(session: AsyncSession, batch_id: int) -> generated.ChainCheck:
    """Whether the batch's chain verifies, from the process's cache when its head has not
    moved (and the answer is recent)."""
    return await CACHE.get(session, batch_id)

"""Counters per key and fixed time window, counted atomically on SQLite and PostgreSQL.

`hit(session, "signup.ip", address, limit=..., window=...)` adds one to the key's counter for
the current window in a single INSERT ... ON CONFLICT DO UPDATE ... RETURNING, so concurrent
requests never read a stale count: each sees its own place in the window. The caller decides
what an exceeded limit means (usually `TooManyRequests` with `retry_after_seconds`).

`lock(session, *keys)` serialises transactions on the given keys until they end (an advisory
transaction lock on PostgreSQL; SQLite's writing transactions are serialised already).

The `accounts.prune` job deletes counters whose window ended a day ago (`prune`).

`RateLimiter` is the other kind: a token bucket per client address held in the process, for
expensive anonymous pages (the public trace page and its QR). It bounds the cost of a flood per
app server without writing anything on a reading request; behind N servers a visitor meets at
most N x rate.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy import Integer, String, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from linli import clock
from linli.db import Base, UTCDateTime
from linli.errors import TooManyRequests
from linli.i18n import N_

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
RETENTION = timedelta(days=1)


class RateCounter(Base):
    """How often `key` (a scope and a value, e.g. 'signup.ip:203.0.113.9') happened in the
    window starting at `window_start`."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Hit:
    count: int  # this hit's place in the window (1 for the first)
    limit: int
    window_end: datetime

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def first_over(self) -> bool:
        """The first hit past the limit in this window (record it once, not every time)."""
        return self.count == self.limit + 1

    def retry_after_seconds(self) -> int:
        return max(1, int((self.window_end - clock.now()).total_seconds()) + 1)


def counter_key(scope: str, value: str) -> str:
    """`scope:value`, with long values (user agents, addresses) hashed to fit the column."""
    key = f"{scope}:{value}"
    if len(key) <= 160:
        return key
    return f"{scope}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    elapsed = int((now - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


async def hit(
    session: AsyncSession, scope: str, value: str, *, limit: int, window: timedelta
) -> Hit:
    """Count one occurrence of (scope, value) now; atomic under concurrency."""
    start = window_start(clock.now(), window)
    end = start + window
    key = counter_key(scope, value)
    values = {"key": key, "window_start": start, "window_end": end, "count": 1}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = (
        insert(RateCounter)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[RateCounter.key, RateCounter.window_start],
            set_={"count": RateCounter.count + 1},
        )
        .returning(RateCounter.count)
    )
    count = (await session.execute(upsert)).scalar_one()
    return Hit(count=int(count), limit=limit, window_end=end)


async def current(session: AsyncSession, scope: str, value: str, *, window: timedelta) -> int:
    """The count of (scope, value) in the current window, without adding to it."""
    start = window_start(clock.now(), window)
    found = await session.scalar(
        select(RateCounter.count).where(
            RateCounter.key == counter_key(scope, value), RateCounter.window_start == start
        )
    )
    return int(found or 0)


async def total(session: AsyncSession, scope: str, value: str) -> int:
    """The sum over every window still kept (see `RETENTION`)."""
    found = await session.scalar(
        select(func.sum(RateCounter.count)).where(RateCounter.key == counter_key(scope, value))
    )
    return int(found or 0)


async def lock(session: AsyncSession, *keys: str) -> None:
    """Serialise this transaction with every other one locking any of `keys`, until commit.

    PostgreSQL: advisory transaction locks, taken in a fixed order (no deadlock between two
    transactions locking overlapping keys). SQLite: writing transactions begin IMMEDIATE and
    are serialised already (see `linli.db`)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted(
        {int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big", signed=True) for k in keys}
    )
    for lock_id in ids:
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


async def prune(session: AsyncSession) -> None:
    """Delete counters whose window ended more than `RETENTION` ago."""
    await session.execute(
        delete(RateCounter).where(RateCounter.window_end < clock.now() - RETENTION)
    )


# --- in-process limits for anonymous pages ---------------------------------------------------

MAX_ADDRESSES = 100_000  # buckets kept; the least recently seen are dropped first


@dataclass
class RateLimiter:
    rate: int  # requests per minute; 0 turns the limit off
    now: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def wait_seconds(self, key: str) -> int:
        """Take one token for `key`: 0 when allowed, else how many seconds until one is back."""
        if self.rate <= 0:
            return 0
        moment = self.now()
        per_second = self.rate / 60
        tokens, last = self._buckets.pop(key, (float(self.rate), moment))
        tokens = min(float(self.rate), tokens + (moment - last) * per_second)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, moment)
            wait = 0
        else:
            self._buckets[key] = (tokens, moment)
            wait = max(1, math.ceil((1 - tokens) / per_second))
        while len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)
        return wait

    def check(self, request: Request, scope: str) -> None:
        """429 (with Retry-After) when the request's address is over the limit for `scope`."""
        address = request.client.host if request.client else "unknown"
        wait = self.wait_seconds(f"{scope}:{address}")
        if wait:
            raise TooManyRequests(
                N_("Too many requests from your address. Please wait {seconds} seconds."),
                code="rate_limited",
                headers={"Retry-After": str(wait)},
                seconds=wait,
            )

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from linli import ratelimit
from linli.clock import FrozenClock
from linli.ratelimit import RateCounter

WINDOW = timedelta(minutes=10)


async def test_concurrent_hits_each_get_their_own_place(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    factory = async_sessionmaker(app.state.engine, expire_on_commit=False)

    async def one() -> int:
        async with factory() as session, session.begin():
            return (await ratelimit.hit(session, "t", "k", limit=3, window=WINDOW)).count

    counts = await asyncio.gather(*(one() for _ in range(8)))
    assert sorted(counts) == list(range(1, 9))


async def test_a_new_window_starts_again_and_old_ones_are_pruned(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    factory = async_sessionmaker(app.state.engine, expire_on_commit=False)
    async with factory() as session, session.begin():
        first = await ratelimit.hit(session, "t", "k", limit=1, window=WINDOW)
        second = await ratelimit.hit(session, "t", "k", limit=1, window=WINDOW)
        assert (first.exceeded, second.exceeded, second.first_over) == (False, True, True)
        assert 1 <= second.retry_after_seconds() <= WINDOW.total_seconds() + 1
        assert await ratelimit.current(session, "t", "k", window=WINDOW) == 2
    frozen_clock.advance(WINDOW)
    async with factory() as session, session.begin():
        assert (await ratelimit.hit(session, "t", "k", limit=1, window=WINDOW)).count == 1
        assert await ratelimit.total(session, "t", "k") == 3
    frozen_clock.advance(ratelimit.RETENTION + WINDOW * 2)
    async with factory() as session, session.begin():
        await ratelimit.prune(session)
        assert (await session.scalars(select(RateCounter.key))).all() == []


def test_long_values_are_hashed_to_fit_the_key_column() -> None:
    key = ratelimit.counter_key("scope", "x" * 500)
    assert len(key) <= 160
    assert key.startswith("scope:sha256:")
    assert ratelimit.counter_key("scope", "203.0.113.9") == "scope:203.0.113.9"

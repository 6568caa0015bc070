"""Credit's effects on the domains below it: the catalogue's public search ranks products of
better-graded merchants first; kept grades follow decay through the daily refresh."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.credit.handlers import REFRESH_JOB, refresh_scores
from linli.credit.models import SubjectKind
from linli.jobs import CreditScoresRefresh
from linli.outbox import DueJob
from tests.credit.helpers import inspection_failed, publish, stored
from tests.groupbuy.helpers import a_shop, listed_sku


async def test_public_search_ranks_better_graded_merchants_first(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    older = await a_shop(client, session, name="老店")
    newer = await a_shop(client, session, name="新店")
    await listed_sku(client, older)
    await listed_sku(client, newer)

    async def merchants_in_order(q: str = "") -> list[int]:
        found = await client.get("/api/v1/catalog/products", params={"q": q} if q else {})
        assert found.status_code == 200, found.text
        return [p["merchant"]["id"] for p in found.json()["items"]]

    assert await merchants_in_order() == [newer.organisation.id, older.organisation.id]
    await publish(app, inspection_failed(newer.organisation.id))  # newer falls to B
    assert await merchants_in_order() == [older.organisation.id, newer.organisation.id]
    assert await merchants_in_order("大米") == [older.organisation.id, newer.organisation.id]


async def test_the_daily_refresh_moves_kept_grades_with_decay(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    await publish(app, inspection_failed(shop.organisation.id))
    kept = await stored(app, SubjectKind.MERCHANT, shop.organisation.id)
    assert kept is not None
    assert (kept.score, kept.grade) == (480, "B")
    async with app.state.sessionmaker() as s:
        scheduled = await s.scalar(
            select(DueJob).where(DueJob.dedupe_key == REFRESH_JOB, DueJob.status == "pending")
        )
    assert scheduled is not None  # installed at start (linli.reference)
    frozen_clock.advance(timedelta(days=3 * 180))  # three boundaries: -120 / 8 = -15
    async with app.state.sessionmaker() as s:
        await refresh_scores(s, CreditScoresRefresh())
        await s.commit()
    kept = await stored(app, SubjectKind.MERCHANT, shop.organisation.id)
    assert kept is not None
    assert (kept.score, kept.grade, kept.records) == (585, "B", 1)

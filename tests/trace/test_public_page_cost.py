"""The public trace page is cheap to serve: the chain's verified state is cached per batch
(until its head moves, or for at most ten minutes), the journey comes a page at a time, and
anonymous visitors are rate-limited per address with a clear 429 page in both languages."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.ratelimit import RateLimiter
from linli.trace import generated, verified
from linli.trace.models import TraceEvent
from tests.factories import login
from tests.groupbuy.helpers import a_shop
from tests.trace.safety_helpers import a_batch, lot_class, product_sku


def step(batch_lot: str, n: int) -> dict[str, object]:
    return {
        "type": "ObjectEvent",
        "epcList": [],
        "quantityList": [{"epcClass": batch_lot}],
        "action": "OBSERVE",
        "bizStep": "storing",
        "readPoint": {"id": f"urn:epc:id:sgln:0690123.00001.{n}"},
    }


async def test_verified_state_is_cached_until_a_new_link_or_too_old(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(app, shop, await product_sku(client, shop), "C1")
    cache = verified.VerifiedChains()
    async with app.state.sessionmaker() as s:
        first = await cache.get(s, batch.id)
        second = await cache.get(s, batch.id)
        assert (first.ok, first.length) == (True, 1)
        assert second == first
        assert cache.verifications == 1
        await generated.record_event(s, shop.organisation.id, step(lot_class(batch), 1))
        await s.commit()
        grown = await cache.get(s, batch.id)  # a new link moved the head: verified again
        assert (grown.ok, grown.length, cache.verifications) == (True, 2, 2)
        # Tampering that adds no link is found once the answer is older than max_age.
        await s.execute(
            update(TraceEvent)
            .where(TraceEvent.batch_id == batch.id, TraceEvent.biz_step.like("%storing"))
            .values(document='{"tampered":true}')
            .execution_options(synchronize_session=False)
        )
        await s.commit()
        assert (await cache.get(s, batch.id)).ok is True
        assert cache.verifications == 2
        frozen_clock.advance(verified.MAX_AGE + timedelta(seconds=1))
        assert (await cache.get(s, batch.id)).ok is False
        assert cache.verifications == 3


async def test_the_page_uses_the_cache_and_pages_the_journey(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(app, shop, await product_sku(client, shop), "P1")
    async with app.state.sessionmaker() as s:
        for n in range(120):
            await generated.record_event(s, shop.organisation.id, step(lot_class(batch), n))
        await s.commit()
    before = verified.CACHE.verifications
    page = await client.get(f"/t/{batch.code}")
    assert page.status_code == 200
    assert page.text.count("<li><time>") == 50
    assert "Page 1 of 3 (121 records)" in page.text
    assert 'href="?page=2" rel="next"' in page.text
    assert "hash chain of 121 records is intact" in page.text
    last = await client.get(f"/t/{batch.code}?page=3")
    assert last.text.count("<li><time>") == 21
    assert 'href="?page=2" rel="prev"' in last.text
    assert 'rel="next"' not in last.text
    assert verified.CACHE.verifications == before + 1  # three views, one verification
    beyond = await client.get(f"/t/{batch.code}?page=7")
    assert "Page 3 of 3" in beyond.text
    for bad in ("0", "-1", "1001", "x"):
        refused = await client.get(f"/t/{batch.code}?page={bad}")
        assert refused.status_code == 422, bad


async def test_anonymous_visitors_are_rate_limited_per_address(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(app, shop, await product_sku(client, shop), "R1")
    moment = [0.0]
    app.state.trace_page_limiter = RateLimiter(3, now=lambda: moment[0])
    for path in (f"/t/{batch.code}", f"/t/{batch.code}/qr.svg", f"/t/{batch.code}"):
        assert (await client.get(path)).status_code == 200
    limited = await client.get(f"/t/{batch.code}")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "20"
    assert "Too many requests" in limited.text
    assert "Please wait 20 seconds" in limited.text
    zh = await client.get(f"/t/{batch.code}/qr.svg", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 429
    assert "请求过于频繁" in zh.text
    # Another address is not affected; a logged-in visitor is not limited.
    elsewhere = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://testserver") as other:
        assert (await other.get(f"/t/{batch.code}")).status_code == 200
    await login(client, shop.owner)
    assert (await client.get(f"/t/{batch.code}")).status_code == 200
    client.cookies.clear()
    assert (await client.get(f"/t/{batch.code}")).status_code == 429
    moment[0] += 20  # one token back
    assert (await client.get(f"/t/{batch.code}")).status_code == 200

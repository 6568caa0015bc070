"""Stream stock: 200 viewers race for 50 units through the HTTP API; the rest goes back to
the SKU exactly once when the room ends (and the due job after a crash finds nothing more)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.live import service
from linli.live.models import LiveOrder, Room
from linli.payments.models import PaymentIntent
from tests.groupbuy.helpers import count, pay, residents
from tests.live_selling.helpers import LIVE, a_studio, buy, goods_row, sku_stock

BATCH = 50


async def test_200_viewers_race_for_50_units_and_the_end_gives_nothing_more_back(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, sku_stock=500, stream_stock=50, limit=1)
    assert await sku_stock(app, studio.sku_id) == 450  # 50 reserved for the stream
    viewers = await residents(session, 200)
    results: list[httpx.Response] = []
    for start in range(0, len(viewers), BATCH):
        results += await asyncio.gather(
            *(buy(client, v.headers, studio) for v in viewers[start : start + BATCH])
        )
    created = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(created) == 50, sorted({r.text[:200] for r in refused})
    assert {r.json()["error"]["code"] for r in refused} == {"sold_out"}
    assert {r.json()["unit_price_fen"] for r in created} == {990}
    assert {(r.json()["room_id"], r.json()["session_id"]) for r in created} == {
        (studio.room_id, created[0].json()["session_id"])
    }
    assert (await goods_row(app, studio.goods_id)).remaining == 0
    assert await count(app, LiveOrder) == 50
    assert await count(app, PaymentIntent) == 50

    ended = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    assert await sku_stock(app, studio.sku_id) == 450  # nothing unsold to give back
    assert (await goods_row(app, studio.goods_id)).released_units == 0


async def test_unsold_stream_stock_goes_back_once_and_the_due_job_ends_a_forgotten_room(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, sku_stock=100, stream_stock=20)
    payer, dawdler = await residents(session, 2)
    bought = await buy(client, payer.headers, studio, quantity=3)
    assert bought.status_code == 201, bought.text
    await pay(client, settings, bought.json()["payment"])
    unpaid = await buy(client, dawdler.headers, studio, quantity=2)
    assert unpaid.status_code == 201, unpaid.text
    await app.state.dispatcher.run_once()
    assert await sku_stock(app, studio.sku_id) == 80
    # Each buyer's own live orders, with the room they were bought in.
    mine = (await client.get(f"{LIVE}/orders", headers=payer.headers)).json()
    assert [(o["room_title"], o["quantity"], o["status"]) for o in mine] == [
        ("烟台苹果直播", 3, "paid")
    ]
    theirs = (await client.get(f"{LIVE}/orders", headers=dawdler.headers)).json()
    assert [(o["id"], o["status"]) for o in theirs] == [(unpaid.json()["id"], "pending_payment")]
    # The merchant's process dies: nobody ends the room. At its scheduled end the due job does.
    frozen_clock.advance(timedelta(hours=2, minutes=1))
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        room = await s.get(Room, studio.room_id)
        assert room is not None
        assert (room.status, room.pinned_goods_id) == ("ended", None)
        assert room.retain_until is not None
        assert room.ended_at is not None
        assert room.retain_until - room.ended_at >= timedelta(days=3 * 365)
    # 15 unsold and the 2 of the unpaid order (expired) are back; the 3 paid for are not.
    assert await sku_stock(app, studio.sku_id) == 97
    async with app.state.sessionmaker() as s:
        rows = (await s.execute(select(LiveOrder.id, LiveOrder.status))).all()
    statuses = {order_id: status for order_id, status in rows}
    assert statuses == {bought.json()["id"]: "paid", unpaid.json()["id"]: "cancelled"}
    # Exactly once: asking again, or ending again, gives nothing more.
    async with app.state.sessionmaker() as s:
        assert await service.release_stock(s, studio.room_id) == 0
        await s.commit()
    again = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert again.status_code == 409
    assert await sku_stock(app, studio.sku_id) == 97
    async with app.state.sessionmaker() as s:
        entries = await s.scalar(
            select(func.count()).select_from(LiveOrder).where(LiveOrder.room_id == studio.room_id)
        )
    assert entries == 2


async def test_one_viewers_concurrent_orders_stay_within_the_per_viewer_limit(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, stream_stock=20, limit=2)
    (viewer,) = await residents(session, 1)
    results = await asyncio.gather(*(buy(client, viewer.headers, studio) for _ in range(6)))
    assert sorted(r.status_code for r in results) == [201, 201, 409, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {
        "limit_exceeded"
    }
    assert (await goods_row(app, studio.goods_id)).remaining == 18

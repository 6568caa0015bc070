"""Arranging a group leader's live room: a led pickup point, the leader as a streamer, a room
for the point, a merchant with an accepted supply agreement supplying a SKU, live and pinned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from tests.groupbuy.helpers import Shop, a_shop, listed_sku
from tests.groupbuy.test_fulfilment import Point, a_led_point
from tests.live_selling.helpers import (
    LIVE,
    identity_number,
    new_key,
    with_after_sales,
    years_ago,
)

LEADER_ROOMS = f"{LIVE}/leader/rooms"
SUPPLIED = f"{LIVE}/merchant/leader-rooms"


@dataclass
class LeaderStudio:
    point: Point
    shop: Shop
    sku_id: int
    agreement_id: int
    room_id: int
    goods_id: int


async def agree(
    client: httpx.AsyncClient, shop: Shop, point: Point, commission_bp: int = 800
) -> int:
    """An accepted supply agreement between the shop and the point's leader."""
    made = await client.post(
        f"{LIVE}/merchant/agreements",
        json={"pickup_point_id": point.id, "commission_bp": commission_bp},
        headers=shop.headers,
    )
    assert made.status_code == 201, made.text
    agreement_id = int(made.json()["id"])
    accepted = await client.post(
        f"{LIVE}/leader/agreements/{agreement_id}/accept", headers=point.leader.headers
    )
    assert accepted.status_code == 200, accepted.text
    return agreement_id


async def register_leader(client: httpx.AsyncClient, point: Point, **extra: Any) -> httpx.Response:
    return await client.post(
        f"{LIVE}/leader/streamer",
        json={"real_name": "王团长", "identity_number": identity_number(years_ago(40))} | extra,
        headers=point.leader.headers,
    )


async def leader_room(client: httpx.AsyncClient, point: Point, **overrides: Any) -> httpx.Response:
    now = clock.now()
    body = {
        "pickup_point_id": point.id,
        "title": "团长今晚直播",
        "scheduled_start": now.isoformat(),
        "scheduled_end": (now + timedelta(hours=2)).isoformat(),
    } | overrides
    return await client.post(LEADER_ROOMS, json=body, headers=point.leader.headers)


async def supply(
    client: httpx.AsyncClient,
    shop: Shop,
    room_id: int,
    sku_id: int,
    *,
    stock: int = 50,
    price_fen: int = 990,
    limit: int = 5,
    after_sales: bool = True,
) -> httpx.Response:
    """The shop supplies a SKU to a leader's room (`after_sales`: its after-sales contact
    set first, as supplying requires)."""
    if after_sales:
        await with_after_sales(client, shop)
    return await client.post(
        f"{SUPPLIED}/{room_id}/goods",
        json={
            "sku_id": sku_id,
            "stream_price_fen": price_fen,
            "stock": stock,
            "per_buyer_limit": limit,
        },
        headers=shop.headers,
    )


async def a_leader_studio(
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    sku_stock: int = 500,
    stream_stock: int = 50,
    limit: int = 5,
    commission_bp: int = 800,
    live: bool = True,
) -> LeaderStudio:
    point = await a_led_point(session)  # the point's own rate: 10 %
    registered = await register_leader(client, point)
    assert registered.status_code == 201, registered.text
    room = await leader_room(client, point)
    assert room.status_code == 201, room.text
    shop = await a_shop(client, session)
    sku_id = await listed_sku(client, shop, stock=sku_stock)
    agreement_id = await agree(client, shop, point, commission_bp)
    goods = await supply(client, shop, room.json()["id"], sku_id, stock=stream_stock, limit=limit)
    assert goods.status_code == 201, goods.text
    studio = LeaderStudio(point, shop, sku_id, agreement_id, room.json()["id"], goods.json()["id"])
    if live:
        started = await client.post(
            f"{LEADER_ROOMS}/{studio.room_id}/start", headers=point.leader.headers
        )
        assert started.status_code == 200, started.text
        pinned = await client.post(
            f"{LEADER_ROOMS}/{studio.room_id}/pin",
            json={"goods_id": studio.goods_id},
            headers=point.leader.headers,
        )
        assert pinned.status_code == 200, pinned.text
    return studio


async def buy_there(
    client: httpx.AsyncClient, headers: dict[str, str], studio: LeaderStudio, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": studio.goods_id} | body,
        headers=headers | {"Idempotency-Key": new_key()},
    )

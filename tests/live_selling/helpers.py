"""Arranging live-selling tests: a verified merchant with a listed SKU, a streamer, a room
(scheduled now for two hours) with goods, live and pinned; viewers with bearer tokens."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.catalog.models import Sku
from linli.live.models import LiveGoods
from tests.groupbuy.helpers import Shop, a_shop, listed_sku

LIVE = "/api/v1/live"
_keys = itertools.count(1)
_seq = itertools.count(1)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def identity_number(birth: date, seq: int | None = None) -> str:
    """A valid 18-character identity card number for `birth` (GB 11643 check character)."""
    body = f"310115{birth:%Y%m%d}{(seq or next(_seq)) % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return body + check


def years_ago(years: int, days: int = 10) -> date:
    today = clock.now().date()
    return today.replace(year=today.year - years) - timedelta(days=days)


def new_key() -> str:
    return f"live-key-{next(_keys):06d}"


@dataclass
class Studio:
    shop: Shop
    sku_id: int
    streamer_id: int
    room_id: int
    goods_id: int


async def a_streamer(
    client: httpx.AsyncClient, shop: Shop, *, birth: date | None = None, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"{LIVE}/merchant/streamers",
        json={
            "user_id": shop.owner.id,
            "real_name": "李主播",
            "identity_number": identity_number(birth or years_ago(30)),
        }
        | extra,
        headers=shop.headers,
    )


AFTER_SALES = "/api/v1/merchants/me/after-sales"


async def with_after_sales(
    client: httpx.AsyncClient, shop: Shop, *, phone: str = "139 1380 0013"
) -> None:
    """The shop's owner sets its public after-sales contact (a room cannot go live, nor
    goods be supplied to a leader's room, without it)."""
    done = await client.put(
        AFTER_SALES,
        json={"phone": phone, "terms": "七天无理由退货"},
        headers=shop.headers,
    )
    assert done.status_code == 200, done.text


async def a_room(
    client: httpx.AsyncClient, shop: Shop, streamer_id: int, **overrides: Any
) -> httpx.Response:
    """A room of the shop scheduled now for two hours (the shop's after-sales contact set)."""
    await with_after_sales(client, shop)
    now = clock.now()
    body = {
        "streamer_id": streamer_id,
        "title": "烟台苹果直播",
        "description": "产地直发",
        "scheduled_start": now.isoformat(),
        "scheduled_end": (now + timedelta(hours=2)).isoformat(),
    } | overrides
    return await client.post(f"{LIVE}/merchant/rooms", json=body, headers=shop.headers)


async def a_studio(
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    sku_stock: int = 500,
    stream_stock: int = 50,
    price_fen: int = 990,
    limit: int = 5,
    live: bool = True,
) -> Studio:
    shop = await a_shop(client, session)
    sku_id = await listed_sku(client, shop, stock=sku_stock)
    streamer = await a_streamer(client, shop)
    assert streamer.status_code == 201, streamer.text
    room = await a_room(client, shop, streamer.json()["id"])
    assert room.status_code == 201, room.text
    room_id = room.json()["id"]
    goods = await client.post(
        f"{LIVE}/merchant/rooms/{room_id}/goods",
        json={
            "sku_id": sku_id,
            "stream_price_fen": price_fen,
            "stock": stream_stock,
            "per_buyer_limit": limit,
        },
        headers=shop.headers,
    )
    assert goods.status_code == 201, goods.text
    studio = Studio(shop, sku_id, streamer.json()["id"], room_id, goods.json()["id"])
    if live:
        started = await client.post(f"{LIVE}/merchant/rooms/{room_id}/start", headers=shop.headers)
        assert started.status_code == 200, started.text
        pinned = await pin(client, studio)
        assert pinned.status_code == 200, pinned.text
    return studio


async def pin(
    client: httpx.AsyncClient, studio: Studio, goods_id: int | None = None
) -> httpx.Response:
    return await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/pin",
        json={"goods_id": goods_id or studio.goods_id},
        headers=studio.shop.headers,
    )


async def buy(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    studio: Studio,
    *,
    quantity: int = 1,
    key: str | None = None,
    goods_id: int | None = None,
) -> httpx.Response:
    return await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": goods_id or studio.goods_id, "quantity": quantity},
        headers=headers | {"Idempotency-Key": key or new_key()},
    )


async def sku_stock(app: FastAPI, sku_id: int) -> int:
    async with app.state.sessionmaker() as s:
        value = await s.scalar(select(Sku.stock).where(Sku.id == sku_id))
    assert value is not None
    return int(value)


async def goods_row(app: FastAPI, goods_id: int) -> LiveGoods:
    s: AsyncSession
    async with app.state.sessionmaker() as s:
        row = await s.get(LiveGoods, goods_id)
    assert row is not None
    return row

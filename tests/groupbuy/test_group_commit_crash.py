"""A crash in the middle of group commits (PostgreSQL): a real server (`linli serve`, two
uvicorn workers) takes orders from many buyers at once and is killed with SIGKILL while
batches are in flight. Every order it acknowledged exists, whole (its line, its payment
intent, its expiry jobs), no unit is sold twice (stock left + units sold = stock); after a
restart the buyers retry with their keys: an acknowledged order is answered with itself
(200), the others are placed or refused, and the stock is sold exactly once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from linli.config import Settings
from linli.groupbuy.models import Order, OrderLine
from linli.jobs import ExpireIntent, ExpireOrder
from linli.outbox import DueJob
from linli.payments.models import PaymentIntent
from tests.conftest import DATABASE_KIND
from tests.crash import kill, kill_mid_batch, serve, slow_batches
from tests.groupbuy.helpers import (
    ORDERS,
    Resident,
    a_pickup_point,
    a_shop,
    item,
    listed_sku,
    published_campaign,
    remaining,
    residents,
)
from tests.live import free_port

pytestmark = pytest.mark.skipif(
    DATABASE_KIND != "postgresql", reason="group commit is PostgreSQL's"
)

STOCK, BUYERS = 40, 120


async def buy(
    http: httpx.AsyncClient, buyer: Resident, key: str, campaign: int, item_id: int, point: int
) -> tuple[int, Any]:
    try:
        response = await http.post(
            ORDERS,
            json={
                "campaign_id": campaign,
                "lines": [{"item_id": item_id, "quantity": 1}],
                "pickup_point_id": point,
            },
            headers=buyer.headers | {"Idempotency-Key": key},
        )
    except httpx.HTTPError as exc:  # the server died under the request
        return 0, repr(exc)
    return response.status_code, response.json()


async def test_a_killed_server_loses_no_acknowledged_order_and_oversells_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: Any,
    settings: Settings,
    tmp_path: Path,
) -> None:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop, stock=STOCK)
    campaign = await published_campaign(
        client, shop, item(sku, stock=STOCK, per_resident_limit=1, group_price_fen=990)
    )
    campaign_id, item_id = campaign["id"], campaign["items"][0]["id"]
    point = await a_pickup_point(session)
    buyers = await residents(session, BUYERS)
    keys = [f"crash-key-{n:04d}" for n in range(BUYERS)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async with slow_batches(session, "groupbuy_orders"):
        server = serve(settings, port, tmp_path)
        try:
            limits = httpx.Limits(max_connections=48)
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
                racing = [
                    asyncio.create_task(buy(http, b, k, campaign_id, item_id, point))
                    for b, k in zip(buyers, keys, strict=True)
                ]
                first = await kill_mid_batch(app, server, racing, "WITH RECURSIVE locked")
        finally:
            kill(server, signal.SIGKILL)
    acknowledged = {n: body for n, (status, body) in enumerate(first) if 200 <= status < 300}
    unanswered = [n for n, (status, _body) in enumerate(first) if status == 0]
    assert acknowledged, first[:5]
    assert unanswered, "the server was killed after every answer: nothing was in flight"
    assert {status for status, _ in first} <= {0, 201, 409}, first
    print(f"\nkilled: {len(acknowledged)} acknowledged, {len(unanswered)} unanswered")

    async def check() -> tuple[dict[int, tuple[int, str]], int]:
        """Every order whole, every unit sold once; the orders by id (resident, key)."""
        async with app.state.sessionmaker() as s:
            placed = {
                row.id: (row.user_id, row.idempotency_key)
                for row in (
                    await s.execute(select(Order.id, Order.user_id, Order.idempotency_key))
                ).all()
            }
            sold = await s.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0)))
            lines = await s.scalar(select(func.count(func.distinct(OrderLine.order_id))))
            intents = await s.scalar(select(func.count()).select_from(PaymentIntent))
            jobs = {
                kind: n
                for kind, n in (
                    await s.execute(
                        select(DueJob.kind, func.count())
                        .where(DueJob.kind.in_([ExpireOrder.job_kind, ExpireIntent.job_kind]))
                        .group_by(DueJob.kind)
                    )
                ).all()
            }
        left = await remaining(app, item_id)
        assert left >= 0
        assert left + int(sold or 0) == STOCK  # no unit oversold, none lost
        assert lines == intents == len(placed)
        assert jobs == {ExpireOrder.job_kind: len(placed), ExpireIntent.job_kind: len(placed)}
        return placed, left

    placed, _left = await check()
    for n, body in acknowledged.items():  # no acknowledged order lost
        assert placed[body["order"]["id"]] == (buyers[n].user.id, keys[n])

    server = serve(settings, port, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            retried = await asyncio.gather(
                *(
                    buy(http, b, k, campaign_id, item_id, point)
                    for b, k in zip(buyers, keys, strict=True)
                )
            )
    finally:
        kill(server, signal.SIGTERM)
    for n, body in acknowledged.items():
        assert retried[n][0] == 200, retried[n]
        assert retried[n][1]["order"]["id"] == body["order"]["id"]
    assert {status for status, _ in retried} <= {200, 201, 409}, retried
    winners = {body["order"]["id"] for status, body in retried if status in (200, 201)}
    placed, left = await check()
    assert left == 0  # demand exceeds the stock: all of it sold, once
    assert winners == set(placed)
    assert len(placed) == STOCK
    refused = [body for status, body in retried if status == 409]
    assert {body["error"]["code"] for body in refused} == {"sold_out"}

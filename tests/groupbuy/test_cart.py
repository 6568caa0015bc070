"""The cart: items of several campaigns, checked out as one order (and payment) per campaign;
the same key gives the same orders; a sold-out campaign does not stop the others; scoped."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor
from linli.groupbuy import checkout, quotas
from linli.groupbuy.models import CampaignItem, CartLine, Order, ResidentQuota
from linli.groupbuy.schemas import OrderIn
from tests.factories import login
from tests.groupbuy.helpers import (
    a_pickup_point,
    a_shop,
    count,
    item,
    listed_sku,
    live_in,
    published_campaign,
    remaining,
    residents,
)

CART = "/api/v1/groupbuy/cart"


async def two_campaigns(
    client: httpx.AsyncClient, session: AsyncSession
) -> tuple[dict[str, Any], dict[str, Any]]:
    fruit = await a_shop(client, session, name="鲜果铺")
    rice = await a_shop(client, session, name="粮油店")
    first = await published_campaign(
        client, fruit, item(await listed_sku(client, fruit), stock=5, per_resident_limit=3)
    )
    second = await published_campaign(
        client, rice, item(await listed_sku(client, rice, code="R"), stock=1)
    )
    return first, second


async def test_a_cart_of_two_campaigns_becomes_two_orders_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, second = await two_campaigns(client, session)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    await live_in(session, resident.user, point)
    a, b = first["items"][0]["id"], second["items"][0]["id"]
    for item_id, quantity in ((a, 2), (b, 1), (a, 3)):  # the last one replaces the first
        put = await client.put(
            f"{CART}/items/{item_id}", json={"quantity": quantity}, headers=resident.headers
        )
        assert put.status_code == 200, put.text
    cart = put.json()
    assert [(line["item_id"], line["quantity"]) for line in cart["lines"]] == [(a, 3), (b, 1)]
    assert cart["total_fen"] == 4 * 1500

    key = {"Idempotency-Key": "cart-checkout-0001"}
    done, again = await asyncio.gather(
        client.post(f"{CART}/checkout", json={}, headers=resident.headers | key),
        client.post(f"{CART}/checkout", json={}, headers=resident.headers | key),
    )
    assert done.status_code == again.status_code == 200, (done.text, again.text)
    orders = sorted(o["order"]["id"] for o in done.json()["orders"])
    assert len(orders) == 2
    assert sorted(o["order"]["id"] for o in again.json()["orders"]) == orders
    assert done.json()["failed"] == again.json()["failed"] == []
    assert await count(app, Order) == 2
    assert await count(app, CartLine) == 0
    assert await remaining(app, a) == 2
    assert await remaining(app, b) == 0
    empty = await client.post(
        f"{CART}/checkout", json={}, headers=resident.headers | {"Idempotency-Key": "new-key-0002"}
    )
    assert empty.status_code == 422


async def test_a_sold_out_campaign_stays_in_the_cart_and_the_rest_is_ordered(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, second = await two_campaigns(client, session)
    point = await a_pickup_point(session)
    early, late = await residents(session, 2)
    for resident in (early, late):
        await live_in(session, resident.user, point)
    b = second["items"][0]["id"]
    for resident in (early, late):
        assert (
            await client.put(f"{CART}/items/{b}", json={"quantity": 1}, headers=resident.headers)
        ).status_code == 200
    a = first["items"][0]["id"]
    await client.put(f"{CART}/items/{a}", json={"quantity": 1}, headers=late.headers)
    assert (
        await client.post(
            f"{CART}/checkout", json={}, headers=early.headers | {"Idempotency-Key": "early-0001"}
        )
    ).status_code == 200

    result = await client.post(
        f"{CART}/checkout", json={}, headers=late.headers | {"Idempotency-Key": "late-00001"}
    )

    assert result.status_code == 200, result.text
    body = result.json()
    assert [o["order"]["campaign_id"] for o in body["orders"]] == [first["id"]]
    assert [f["campaign_id"] for f in body["failed"]] == [second["id"]]
    assert "sold out" in body["failed"][0]["message"]
    left = (await client.get(CART, headers=late.headers)).json()["lines"]
    assert [line["item_id"] for line in left] == [b]  # still there, for another time


async def test_a_key_race_in_the_second_campaign_keeps_the_first_campaigns_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second campaign's order key is taken by a concurrent request after this checkout
    looked for it: its insert finds the key taken, and nothing of the transaction is rolled
    back, so the first campaign's order placed earlier in it survives. The window between
    the read and the insert is the checkout in steps' (SQLite's, and PostgreSQL's reference):
    the one-statement checkout has none in Python, and its race is tested with a concurrent
    transaction in test_checkout_paths.py."""
    monkeypatch.setattr(checkout, "ONE_STATEMENT", False)
    first, second = await two_campaigns(client, session)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    await live_in(session, resident.user, point)
    a, b = first["items"][0]["id"], second["items"][0]["id"]
    for item_id in (a, b):
        put = await client.put(
            f"{CART}/items/{item_id}", json={"quantity": 1}, headers=resident.headers
        )
        assert put.status_code == 200, put.text
    key = "race-checkout-01"
    place_order, take_quota = checkout.place_order, quotas.take
    raced: list[int] = []
    actors: list[Actor] = []

    async def recording(s: AsyncSession, actor: Actor, data: OrderIn, k: str) -> Any:
        actors.append(actor)
        return await place_order(s, actor, data, k)

    async def competitor_first(
        s: AsyncSession, user_id: int, campaign_item: CampaignItem, quantity: int
    ) -> bool:
        # After the checkout found no order under the second key and before its insert,
        # "another request" places that very order (and takes its own quota).
        if campaign_item.id == b and not raced:
            raced.append(b)
            competitor = OrderIn.model_validate(
                {"campaign_id": second["id"], "lines": [{"item_id": b, "quantity": 1}]}
            )
            won = await place_order(s, actors[-1], competitor, f"{key}-{second['id']}")
            assert won.created
        return await take_quota(s, user_id, campaign_item, quantity)

    monkeypatch.setattr(checkout, "place_order", recording)
    monkeypatch.setattr(quotas, "take", competitor_first)

    result = await client.post(
        f"{CART}/checkout", json={}, headers=resident.headers | {"Idempotency-Key": key}
    )

    assert result.status_code == 200, result.text
    assert raced == [b]
    body = result.json()
    assert sorted(o["order"]["campaign_id"] for o in body["orders"]) == sorted(
        [first["id"], second["id"]]
    )
    assert body["failed"] == []
    assert await count(app, Order, Order.campaign_id == first["id"]) == 1  # survived
    assert await count(app, Order, Order.campaign_id == second["id"]) == 1  # the winner's
    assert await count(app, CartLine) == 0
    async with app.state.sessionmaker() as s:
        held = await s.scalar(
            select(ResidentQuota.quantity).where(
                ResidentQuota.user_id == resident.user.id, ResidentQuota.item_id == b
            )
        )
    assert held == 1  # the loser's unit went back; the winner holds one
    assert await remaining(app, a) == 4
    assert await remaining(app, b) == 0


async def test_the_cart_refuses_bad_quantities_and_is_each_residents_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, _second = await two_campaigns(client, session)
    a = first["items"][0]["id"]
    mine, theirs = await residents(session, 2)
    for bad in (-1, 4, "2", 10**9):  # the limit is 3
        response = await client.put(
            f"{CART}/items/{a}", json={"quantity": bad}, headers=mine.headers
        )
        assert response.status_code == 422, (bad, response.text)
    assert (
        await client.put(f"{CART}/items/999999", json={"quantity": 1}, headers=mine.headers)
    ).status_code == 404
    await client.put(f"{CART}/items/{a}", json={"quantity": 1}, headers=mine.headers)
    assert (await client.get(CART, headers=theirs.headers)).json()["lines"] == []
    assert (await client.get(CART)).status_code == 401


async def test_the_cart_pages_add_update_and_check_out(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, second = await two_campaigns(client, session)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    await live_in(session, resident.user, point)
    await login(client, resident.user)
    csrf = client.cookies["linli_csrf"]
    a, b = first["items"][0]["id"], second["items"][0]["id"]
    for campaign_id, item_id in ((first["id"], a), (second["id"], b)):
        added = await client.post(
            "/groupbuy/cart/add",
            data={"csrf_token": csrf, "campaign_id": str(campaign_id), f"qty_{item_id}": "1"},
        )
        assert added.status_code == 303, added.text
    junk = await client.post("/groupbuy/cart/update", data={"csrf_token": csrf, f"qty_{a}": "many"})
    assert junk.status_code == 422
    page = await client.get("/groupbuy/cart")
    assert page.status_code == 200
    assert f'data-cart-item="{a}"' in page.text
    assert f'data-cart-item="{b}"' in page.text
    updated = await client.post(
        "/groupbuy/cart/update", data={"csrf_token": csrf, f"qty_{a}": "2", f"qty_{b}": "0"}
    )
    assert updated.status_code == 303
    page = await client.get("/groupbuy/cart")
    assert f'data-cart-item="{b}"' not in page.text
    assert "¥30.00" in page.text
    done = await client.post(
        "/groupbuy/cart/checkout", data={"csrf_token": csrf, "checkout_key": "page-key-0001"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/groupbuy/orders"
    assert await count(app, Order) == 1
    orders = await client.get("/groupbuy/orders")
    assert "/pay/" in orders.text  # each order is paid from here

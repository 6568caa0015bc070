"""Stock changes in one conditional UPDATE: audited, never below zero, even when racing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.audit.models import AuditEntry
from linli.catalog.schemas import MAX_STOCK
from linli.clock import FrozenClock
from tests.catalog.helpers import SKUS, as_merchant, create_product, sku_row
from tests.factories import login
from tests.groupbuy.helpers import a_shop, item, listed_sku, published_campaign


async def test_adjust_and_set_stock_are_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await as_merchant(client, session)
    sku_id = (await create_product(client, sku={"stock": 10}))["skus"][0]["id"]
    added = await client.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": 5})
    assert added.json() == {"sku_id": sku_id, "stock": 15}
    taken = await client.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": -15})
    assert taken.json() == {"sku_id": sku_id, "stock": 0}
    counted = await client.put(f"{SKUS}/{sku_id}/stock", json={"stock": 42})
    assert counted.json() == {"sku_id": sku_id, "stock": 42}
    assert (await sku_row(session, sku_id)).stock == 42
    entries = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(["catalog.stock_adjusted", "catalog.stock_set"]))
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(e.action, e.details) for e in entries] == [
        ("catalog.stock_adjusted", {"delta": 5, "stock": 15}),
        ("catalog.stock_adjusted", {"delta": -15, "stock": 0}),
        ("catalog.stock_set", {"stock": 42}),
    ]
    assert {(e.user_id, e.organisation_id, e.target_id) for e in entries} == {
        (owner.id, shop.id, str(sku_id))
    }


async def test_stock_never_goes_below_zero(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    sku_id = (await create_product(client, sku={"stock": 3}))["skus"][0]["id"]
    refused = await client.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": -4})
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "insufficient_stock",
        "message": "Not enough stock: 3 left, cannot take away 4.",
        "fields": {"delta": "More than the stock."},
    }
    for bad in (0, -(10**9) - 1, 10**12, 2**64, "x", 1.5, True, None):
        response = await client.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": bad})
        assert response.status_code == 422, (bad, response.text)
    for bad in (-1, 10**9 + 1, 2**63, "lots"):
        response = await client.put(f"{SKUS}/{sku_id}/stock", json={"stock": bad})
        assert response.status_code == 422, (bad, response.text)
    await client.put(f"{SKUS}/{sku_id}/stock", json={"stock": 10**9})
    overflow = await client.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": 10**9})
    assert overflow.status_code == 422  # no 32-bit overflow, no 500
    assert (await sku_row(session, sku_id)).stock == 10**9


async def test_two_concurrent_takes_cannot_both_succeed(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await as_merchant(client, session)
    sku_id = (await create_product(client, sku={"stock": 5}))["skus"][0]["id"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await login(other, owner, organisation=shop)
        first, second = await asyncio.gather(
            client.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": -4}),
            other.post(f"{SKUS}/{sku_id}/stock-adjustments", json={"delta": -4}),
        )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner = first if first.status_code == 200 else second
    assert winner.json()["stock"] == 1
    assert (await sku_row(session, sku_id)).stock == 1


async def test_the_console_adjusts_stock_and_explains_refusals(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    product = await create_product(client, sku={"stock": 2})
    sku_id = product["skus"][0]["id"]
    csrf = client.cookies.get(CSRF_COOKIE)
    url = f"/merchant/products/{product['id']}/skus/{sku_id}/stock"
    ok = await client.post(url, data={"csrf_token": csrf, "delta": "8"})
    assert ok.status_code == 303
    page = await client.get(ok.headers["location"])
    assert "Stock is now 10." in page.text
    refused = await client.post(url, data={"csrf_token": csrf, "delta": "-11"})
    assert refused.status_code == 409
    assert "Not enough stock: 10 left, cannot take away 11." in refused.text
    assert 'class="field-error">More than the stock.' in refused.text
    assert 'value="-11"' in refused.text
    junk = await client.post(url, data={"csrf_token": csrf, "delta": "很多"})
    assert junk.status_code == 422
    assert "Enter a whole number." in junk.text
    assert (await sku_row(session, sku_id)).stock == 10


async def test_group_buying_reserves_and_releases_stock_within_the_bound_and_audited(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """Publishing takes a campaign's units and the cut-off gives back what did not sell,
    through the catalogue's stock face: each move is audited, and the stock never goes above
    MAX_STOCK (group buying used to write `skus` itself, with neither)."""
    shop = await a_shop(client, session)
    owner_id, organisation_id = shop.owner.id, shop.organisation.id
    sku_id = await listed_sku(client, shop, stock=100)
    campaign = await published_campaign(client, shop, item(sku_id, stock=20))
    assert (await sku_row(session, sku_id)).stock == 80
    # The merchant counts a huge delivery while the 20 units are reserved.
    counted = await client.put(
        f"{SKUS}/{sku_id}/stock", json={"stock": MAX_STOCK - 5}, headers=shop.headers
    )
    assert counted.status_code == 200, counted.text
    frozen_clock.advance(timedelta(days=1, minutes=1))
    await app.state.dispatcher.run_once()  # the cut-off: nothing sold, 20 units go back
    session.expire_all()
    assert (await sku_row(session, sku_id)).stock == MAX_STOCK
    entries = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "catalog.stock_adjusted")
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(e.target_id, e.user_id, e.organisation_id, e.details) for e in entries] == [
        (
            str(sku_id),
            owner_id,
            organisation_id,
            {
                "delta": -20,
                "stock": 80,
                "reason": "groupbuy.campaign_published",
                "campaign_id": campaign["id"],
            },
        ),
        (
            str(sku_id),
            None,
            None,
            {
                "delta": 5,
                "stock": MAX_STOCK,
                "reason": "groupbuy.campaign_closed",
                "campaign_id": campaign["id"],
                "not_returned": 15,
            },
        ),
    ]

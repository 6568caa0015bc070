"""Campaigns: merchants create and publish them (stock taken from the SKU), anyone reads the
open ones with items, group price, remaining stock and the return policy per item."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.catalog.models import Sku
from tests.factories import make_token, make_user
from tests.groupbuy.helpers import (
    CAMPAIGNS,
    a_shop,
    bearer,
    campaign_body,
    item,
    listed_sku,
    published_campaign,
)


async def sku_stock(app: FastAPI, sku_id: int) -> int:
    async with app.state.sessionmaker() as s:
        value = await s.scalar(select(Sku.stock).where(Sku.id == sku_id))
    assert value is not None
    return int(value)


async def test_publishing_takes_stock_from_the_sku_and_records_the_rules(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: object
) -> None:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop, stock=80, price_fen=2000)
    apples = await listed_sku(client, shop, stock=30, price_fen=5990, fresh=True, code="5KG")
    created = await client.post(
        CAMPAIGNS,
        json=campaign_body(item(rice, stock=60), item(apples, stock=20, group_price_fen=4990)),
        headers=shop.headers,
    )
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["status"] == "draft"
    assert [i["remaining"] for i in draft["items"]] == [0, 0]
    assert draft["items"][0]["return_policy"] is None
    assert await sku_stock(app, rice) == 80  # nothing taken before publication
    public = await client.get(f"{CAMPAIGNS}/{draft['id']}")
    assert public.status_code == 404  # drafts are the merchant's own

    published = await client.post(f"{CAMPAIGNS}/{draft['id']}/publish", headers=shop.headers)

    assert published.status_code == 200, published.text
    body = published.json()
    assert body["status"] == "published"
    assert body["payment_window_minutes"] == 15
    assert [(i["stock"], i["remaining"]) for i in body["items"]] == [(60, 60), (20, 20)]
    assert (await sku_stock(app, rice), await sku_stock(app, apples)) == (20, 10)
    rice_policy, apple_policy = (i["return_policy"] for i in body["items"])
    assert rice_policy["no_reason_return"] is True
    assert rice_policy["days"] == 7
    assert rice_policy["rule_id"] == "consumer.no_reason_return"
    assert rice_policy["rule_version"] == 2
    pickup = body["pickup_date"]
    assert rice_policy["last_day"] > pickup
    assert apple_policy["no_reason_return"] is False
    assert apple_policy["excluded_because"] == "storage:chilled"
    again = await client.post(f"{CAMPAIGNS}/{draft['id']}/publish", headers=shop.headers)
    assert again.status_code == 200
    assert await sku_stock(app, rice) == 20  # publishing twice takes nothing twice
    listing = await client.get(CAMPAIGNS)
    assert [c["id"] for c in listing.json()] == [draft["id"]]
    assert listing.json()[0]["items"][0]["remaining"] == 60
    actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "groupbuy.campaign_published" in actions


async def test_publishing_refuses_what_the_sku_cannot_cover_and_takes_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: object
) -> None:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop, stock=80)
    beans = await listed_sku(client, shop, stock=5, code="BEANS")
    created = await client.post(
        CAMPAIGNS,
        json=campaign_body(item(rice, stock=60), item(beans, stock=6)),
        headers=shop.headers,
    )
    refused = await client.post(f"{CAMPAIGNS}/{created.json()['id']}/publish", headers=shop.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_stock"
    assert (await sku_stock(app, rice), await sku_stock(app, beans)) == (80, 5)


async def test_campaign_inputs_are_checked(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: object
) -> None:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop, price_fen=2000)
    other = await a_shop(client, session, name="别家")
    theirs = await listed_sku(client, other)
    now = clock.now()
    cases = [
        campaign_body(item(rice, group_price_fen=2001)),
        campaign_body(item(rice, group_price_fen=0)),
        campaign_body(item(rice, per_resident_limit=0)),
        campaign_body(item(rice, min_group_qty=0)),
        campaign_body(item(theirs)),
        campaign_body(item(rice), item(rice)),
        campaign_body(item(rice), cutoff_at=(now - timedelta(hours=2)).isoformat()),
        campaign_body(item(rice), pickup_date=now.date().isoformat()),
        campaign_body(item(rice), opens_at="2026-11-26T10:00:00"),  # naive
        campaign_body(),
    ]
    for body in cases:
        response = await client.post(CAMPAIGNS, json=body, headers=shop.headers)
        assert response.status_code == 422, (body, response.text)
    resident = await make_user(session)
    as_resident = bearer(await make_token(session, resident))
    refused = await client.post(CAMPAIGNS, json=campaign_body(item(rice)), headers=as_resident)
    assert refused.status_code == 403


async def test_only_open_campaigns_are_listed(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: object
) -> None:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop)
    now = clock.now()
    later = await published_campaign(
        client,
        shop,
        item(rice, stock=5),
        opens_at=(now + timedelta(hours=1)).isoformat(),
        title="明天开团",
    )
    current = await published_campaign(client, shop, item(rice, stock=5), title="进行中")
    listing = (await client.get(CAMPAIGNS)).json()
    assert [c["id"] for c in listing] == [current["id"]]
    assert (await client.get(f"{CAMPAIGNS}/{later['id']}")).json()["is_open"] is False

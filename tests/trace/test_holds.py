"""Holds have an owner: a regulator's hold is released only by a regulator with jurisdiction
over the batch (never by the merchant, not even after a failed inspection of its own); a
destroyed batch stays destroyed and can never be sold again."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.trace.safety_models import TraceHold
from tests.factories import make_org, make_token, make_user
from tests.groupbuy.helpers import (
    CAMPAIGNS,
    Shop,
    a_pickup_point,
    a_shop,
    bearer,
    campaign_body,
    item,
    order,
    published_campaign,
    residents,
)
from tests.trace.safety_helpers import TRACE, a_batch, product_sku, status_of


async def regulator(session: AsyncSession, name: str, province: str) -> dict[str, str]:
    officer = await make_user(session, name=name)
    org = await make_org(session, "regulator", owner=officer, name=name, province_code=province)
    return bearer(await make_token(session, officer, organisation=org))


async def in_province(session: AsyncSession, shop: Shop, province: str) -> None:
    org = await session.get(Organisation, shop.organisation.id)
    assert org is not None
    org.province_code = province
    await session.commit()


async def fail_inspection(
    client: httpx.AsyncClient, batch_id: int, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"{TRACE}/batches/{batch_id}/inspections",
        data={"laboratory": "市食检所", "items_tested": "铅", "results": "超标", "passed": "false"},
        headers=headers,
    )


async def test_only_a_regulator_releases_a_regulators_hold(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    await in_province(session, shop, "310000")
    batch = await a_batch(app, shop, await product_sku(client, shop), "H1")
    here = await regulator(session, "上海市场监管局", "310000")
    there = await regulator(session, "杭州市场监管局", "330000")
    held = await fail_inspection(client, batch.id, here)
    assert held.status_code == 201, held.text
    async with app.state.sessionmaker() as s:
        (hold,) = (await s.scalars(select(TraceHold).where(TraceHold.batch_id == batch.id))).all()
    assert hold.authority == "regulator"
    assert hold.opened_by_organisation_id is not None
    assert hold.opened_by_organisation_id != shop.organisation.id

    url = f"{TRACE}/batches/{batch.id}/hold-decision"
    release = {"decision": "release", "reason": "复检合格"}
    refused = await client.post(url, json=release, headers=shop.headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "hold_by_regulator"
    # The merchant's own failed inspection opens a hold of its own: still not enough.
    assert (await fail_inspection(client, batch.id, shop.headers)).status_code == 201
    again = await client.post(url, json=release, headers=shop.headers)
    assert again.status_code == 403
    assert await status_of(app, batch.id) == "on_hold"
    # A regulator without jurisdiction does not even see the batch.
    assert (await client.post(url, json=release, headers=there)).status_code == 404
    released = await client.post(url, json=release, headers=here)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "active"


async def test_a_merchant_releases_its_own_and_the_platforms_holds(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(app, shop, await product_sku(client, shop), "H2")
    assert (await fail_inspection(client, batch.id, shop.headers)).status_code == 201
    async with app.state.sessionmaker() as s:
        hold = await s.scalar(select(TraceHold).where(TraceHold.batch_id == batch.id))
    assert hold is not None
    assert (hold.authority, hold.opened_by_organisation_id) == ("merchant", shop.organisation.id)
    released = await client.post(
        f"{TRACE}/batches/{batch.id}/hold-decision",
        json={"decision": "release", "reason": "误判"},
        headers=shop.headers,
    )
    assert released.status_code == 200, released.text


async def test_a_destroyed_batch_stays_destroyed_and_unsellable(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    await in_province(session, shop, "310000")
    sku = await product_sku(client, shop)
    batch = await a_batch(app, shop, sku, "H3")
    campaign = await published_campaign(client, shop, item(sku, batch_id=batch.id))
    draft = await client.post(
        CAMPAIGNS, json=campaign_body(item(sku, batch_id=batch.id)), headers=shop.headers
    )
    assert draft.status_code == 201, draft.text
    here = await regulator(session, "上海市场监管局", "310000")
    assert (await fail_inspection(client, batch.id, here)).status_code == 201
    url = f"{TRACE}/batches/{batch.id}/hold-decision"
    destroyed = await client.post(
        url, json={"decision": "destroy", "reason": "铅超标，销毁"}, headers=here
    )
    assert destroyed.status_code == 200, destroyed.text
    assert destroyed.json()["status"] == "destroyed"
    # The attack: a failed inspection of the merchant's own, then a release.
    assert (await fail_inspection(client, batch.id, shop.headers)).status_code == 201
    assert await status_of(app, batch.id) == "destroyed"
    for headers in (shop.headers, here):
        again = await client.post(
            url, json={"decision": "release", "reason": "复检合格"}, headers=headers
        )
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "batch_destroyed"
    assert await status_of(app, batch.id) == "destroyed"
    point_id = await a_pickup_point(session)
    (buyer,) = await residents(session, 1)
    refused = await order(
        client, buyer, campaign["id"], [(campaign["items"][0]["id"], 1)], point_id=point_id
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "batch_destroyed"
    publish = await client.post(f"{CAMPAIGNS}/{draft.json()['id']}/publish", headers=shop.headers)
    assert publish.status_code == 409
    assert publish.json()["error"]["code"] == "batch_destroyed"
    page = await client.get(f"/t/{batch.code}")
    assert 'data-batch-status="destroyed"' in page.text

"""The seller's after-sales contact in the room (SAMR guidance 2020 No. 175, rule
`live.commerce` licence_display): shown in the room's page and API body for a merchant's room
and for every supplying merchant of a leader's room; without one a merchant room does not go
live and a merchant does not supply a leader's room (409 after_sales_contact_missing)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.rules.defaults import SINCE
from linli.rules.models import RuleVersion
from linli.rules.service import in_force
from tests.factories import login
from tests.groupbuy.helpers import Shop, a_shop, listed_sku, live_in, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import LIVE, a_streamer, sku_stock, with_after_sales
from tests.live_selling.leader_helpers import (
    LEADER_ROOMS,
    agree,
    leader_room,
    register_leader,
    supply,
)


async def room_without_contact(client: httpx.AsyncClient, shop: Shop) -> int:
    """A scheduled room of a shop that has set no after-sales contact (not via a_room)."""
    streamer = await a_streamer(client, shop)
    assert streamer.status_code == 201, streamer.text
    now = clock.now()
    room = await client.post(
        f"{LIVE}/merchant/rooms",
        json={
            "streamer_id": streamer.json()["id"],
            "title": "烟台苹果直播",
            "scheduled_start": now.isoformat(),
            "scheduled_end": (now + timedelta(hours=2)).isoformat(),
        },
        headers=shop.headers,
    )
    assert room.status_code == 201, room.text
    return int(room.json()["id"])


async def test_a_merchant_room_goes_live_only_with_the_contact_the_room_shows(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    room_id = await room_without_contact(client, shop)
    start = f"{LIVE}/merchant/rooms/{room_id}/start"
    refused = await client.post(start, headers=shop.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "after_sales_contact_missing",
    )
    seller = (await client.get(f"{LIVE}/rooms/{room_id}")).json()["seller"]
    assert (seller["after_sales_phone"], seller["after_sales_terms"]) == (None, None)
    for lang, words in (("en", "No after-sales contact on file"), ("zh-CN", "未登记售后联系方式")):
        page = await client.get(f"/live/{room_id}", headers={"Accept-Language": lang})
        assert page.status_code == 200
        assert words in page.text

    await with_after_sales(client, shop)
    seller = (await client.get(f"{LIVE}/rooms/{room_id}")).json()["seller"]
    assert (seller["after_sales_phone"], seller["after_sales_terms"]) == (
        "+8613913800013",
        "七天无理由退货",
    )
    started = await client.post(start, headers=shop.headers)
    assert started.status_code == 200, started.text
    page = await client.get(f"/live/{room_id}", headers={"Accept-Language": "zh-CN"})
    assert "售后联系方式" in page.text
    assert "+8613913800013 · 七天无理由退货" in page.text
    # The seller's name links to its public page, which answers with the same contact.
    assert f'href="/m/{shop.organisation.id}"' in page.text
    public = await client.get(f"/m/{shop.organisation.id}")
    assert public.status_code == 200
    assert "+8613913800013 · 七天无理由退货" in public.text


async def test_the_requirement_is_rule_data(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """A version of live.commerce without licence_display lets a room go live without it."""
    current = await in_force(session, "live.commerce")
    session.add(
        RuleVersion(
            rule_id="live.commerce",
            version=current.version + 1,
            jurisdiction="CN",
            title=current.title,
            legal_basis=current.legal_basis,
            effective_from=SINCE,
            effective_to=None,
            values=dict(current.values) | {"licence_display": False},
            created_at=clock.now(),
        )
    )
    await session.commit()
    shop = await a_shop(client, session)
    room_id = await room_without_contact(client, shop)
    started = await client.post(f"{LIVE}/merchant/rooms/{room_id}/start", headers=shop.headers)
    assert started.status_code == 200, started.text


async def test_a_merchant_without_the_contact_cannot_supply_a_leaders_room(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    point = await a_led_point(session)
    assert (await register_leader(client, point)).status_code == 201
    room = await leader_room(client, point)
    assert room.status_code == 201, room.text
    room_id = room.json()["id"]
    shop = await a_shop(client, session)
    other = await a_shop(client, session, name="别家果园")
    sku_id = await listed_sku(client, shop, stock=100)
    other_sku = await listed_sku(client, other, stock=100)
    await agree(client, shop, point)
    await agree(client, other, point)
    refused = await supply(client, shop, room_id, sku_id, stock=10, after_sales=False)
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "after_sales_contact_missing",
    )
    assert await sku_stock(app, sku_id) == 100  # nothing reserved
    assert (await supply(client, shop, room_id, sku_id, stock=10)).status_code == 201
    await with_after_sales(client, other, phone="13700001111")
    supplied = await supply(client, other, room_id, other_sku, stock=10, after_sales=False)
    assert supplied.status_code == 201, supplied.text
    (neighbour,) = await residents(session, 1)  # a leader's room is its point's residents'
    await live_in(session, neighbour.user, point.id)
    body = (await client.get(f"{LIVE}/rooms/{room_id}", headers=neighbour.headers)).json()
    assert body.get("seller") is None
    assert [(s["name"], s["after_sales_phone"]) for s in body["sellers"]] == [
        ("邻里鲜果", "+8613913800013"),
        ("别家果园", "+8613700001111"),
    ]
    started = await client.post(f"{LEADER_ROOMS}/{room_id}/start", headers=point.leader.headers)
    assert started.status_code == 200, started.text
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await login(browser, neighbour.user)
        page = await browser.get(f"/live/{room_id}")
    assert page.status_code == 200
    assert page.text.count('data-testid="live-after-sales"') == 2
    assert "+8613913800013 · 七天无理由退货" in page.text

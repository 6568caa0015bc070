"""The resident's pages: today's group buys, ordering through the form, my orders."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import form_login, make_user
from tests.groupbuy.helpers import (
    a_pickup_point,
    a_shop,
    item,
    listed_sku,
    live_in,
    published_campaign,
)


async def test_a_resident_orders_from_the_page_and_is_sent_to_pay(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop, stock=80)
    apples = await listed_sku(client, shop, stock=30, fresh=True, code="FUJI")
    campaign = await published_campaign(client, shop, item(rice, stock=20), item(apples, stock=10))
    point = await a_pickup_point(session)
    resident = await make_user(session, name="王阿姨")
    await live_in(session, resident, point)

    anonymous = await client.get("/groupbuy")
    assert anonymous.status_code == 200
    assert "周末团购" in anonymous.text
    assert "¥15.00" in anonymous.text
    assert "/login?next=/groupbuy" in anonymous.text

    csrf = await form_login(client, resident.phone)
    page = await client.get("/groupbuy")
    key = re.search(r'name="order_key" value="([^"]+)"', page.text)
    assert key is not None
    rice_id, apple_id = (i["id"] for i in campaign["items"])
    form = {
        "campaign_id": str(campaign["id"]),
        "order_key": key.group(1),
        f"qty_{rice_id}": "1",
        f"qty_{apple_id}": "2",
        "csrf_token": csrf,
    }
    unconfirmed = await client.post("/groupbuy/order", data=form)
    assert unconfirmed.status_code == 422  # fresh apples: the return terms must be accepted
    assert "accept_return_terms" in unconfirmed.text
    nothing = await client.post(
        "/groupbuy/order", data={**form, f"qty_{rice_id}": "0", f"qty_{apple_id}": "0"}
    )
    assert nothing.status_code == 422
    placed = await client.post("/groupbuy/order", data={**form, "accept_return_terms": "on"})
    assert placed.status_code == 303
    assert placed.headers["location"].startswith("/pay/")
    again = await client.post("/groupbuy/order", data={**form, "accept_return_terms": "on"})
    assert again.headers["location"] == placed.headers["location"]  # same form, same order

    orders = await client.get("/groupbuy/orders")
    assert orders.text.count('data-order="') == 1
    assert "¥45.00" in orders.text  # 1 x 15.00 + 2 x 15.00
    assert placed.headers["location"] in orders.text


async def test_my_orders_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/groupbuy/orders")).status_code == 401

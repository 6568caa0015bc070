"""Consumer protection in headless Chromium against a served instance, by pages only.

(a) A return: the resident asks to return a collected bag of rice from the order page, the
merchant approves, the leader receives it at the point with a photo, the merchant refunds, and
the refund shows on the resident's order page (and the receipt's photo on their returns page).
(b) A complaint: the resident complains to the platform, the platform's operator does not
accept it (the merchant is the regulator's business), the resident takes it to the regulator,
who accepts it, mediates and records the agreement, which the resident then reads.

Arranged directly (accounts, organisations, the pickup point) and through the API with tokens
(the product, the campaign, the order, its payment, the cut-off, delivery and hand-over): the
journeys themselves are clicks and forms.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.community.models import Community, Leader, PickupPoint
from linli.config import DEMO_SANDBOX_SECRET
from linli.groupbuy import cutoff
from linli.groupbuy.models import Campaign
from linli.payments import providers
from tests.browser import BROWSER_MARKS, People, act_for, log_in, on_server, people_of
from tests.browser import browser as browser
from tests.factories import make_merchant, make_org, make_token, make_user, png_bytes
from tests.groupbuy.helpers import (
    Resident,
    Shop,
    bearer,
    item,
    listed_sku,
    live_in,
    order,
    published_campaign,
)
from tests.live import LiveServer, serve_live

T = TypeVar("T")
PASSWORD = "Neighbour-2026"
API = "/api/v1/groupbuy"
WAIT_S = 20.0
DISTRICT = "310115"  # Pudong

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("protection-live"), "protection") as served:
        yield served


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


async def until(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], done: Callable[[Any], bool]
) -> Any:
    """Poll `url` until `done(body)`: work the server's dispatcher does in the background."""
    deadline = clock.now() + timedelta(seconds=WAIT_S)
    while True:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        if done(response.json()):
            return response.json()
        assert clock.now() < deadline, f"{url}: still {response.text[:300]}"
        await asyncio.sleep(0.3)


async def a_world(
    session: AsyncSession, client: httpx.AsyncClient, phones: str, shop_name: str
) -> dict[str, Any]:
    """A verified merchant in Pudong with a listed bag of rice (¥15 in the group buy), a
    pickup point run by an approved leader, a resident living there with an open order of 2
    bags. `phones`: the first 10 digits of everyone's phone number (…1 merchant, …2 leader,
    …3 resident)."""
    owner = await make_user(session, phone=f"{phones}1", name="粮油店主", password=PASSWORD)
    organisation = await make_merchant(session, owner, name=shop_name, scope=("groceries",))
    organisation.province_code, organisation.city_code = "310000", "310100"
    organisation.district_code = DISTRICT
    await session.commit()
    shop = Shop(
        owner, organisation, bearer(await make_token(session, owner, organisation=organisation))
    )
    leader = await make_user(session, phone=f"{phones}2", name="李团长", password=PASSWORD)
    now = clock.now()
    community = Community(
        name="金桥花园",
        province_code="310000",
        city_code="310100",
        district_code=DISTRICT,
        address="上海市浦东新区金桥路8号",
        latitude_e6=31_250_000,
        longitude_e6=121_600_000,
        created_at=now,
    )
    session.add(community)
    await session.flush()
    session.add(Leader(user_id=leader.id, commission_bp=1000, approved_at=now, active=True))
    point = PickupPoint(
        community_id=community.id,
        name="5号楼快递驿站",
        address="金桥路8号5号楼",
        opening_hours="09:00-21:00",
        daily_capacity=300,
        leader_user_id=leader.id,
        active=True,
        created_at=now,
    )
    session.add(point)
    await session.commit()
    user = await make_user(session, phone=f"{phones}3", name="王阿姨", password=PASSWORD)
    await live_in(session, user, point.id)
    buyer = Resident(user, bearer(await make_token(session, user, scopes=("account", "resident"))))
    sku = await listed_sku(client, shop, price_fen=2990)
    campaign = await published_campaign(
        client, shop, item(sku, group_price_fen=1500, min_group_qty=1, per_resident_limit=5)
    )
    placed = await order(
        client, buyer, campaign["id"], [(campaign["items"][0]["id"], 2)], point_id=point.id
    )
    assert placed.status_code == 201, placed.text
    return {
        "shop": shop,
        "leader": leader,
        "leader_headers": bearer(await make_token(session, leader, scopes=("account", "leader"))),
        "buyer": buyer,
        "point_id": point.id,
        "campaign_id": campaign["id"],
        "order_id": placed.json()["order"]["id"],
        "payment": placed.json()["payment"],
    }


async def collected_world(
    session: AsyncSession, client: httpx.AsyncClient, phones: str, shop_name: str
) -> dict[str, Any]:
    """The world above, with the order paid, the group formed at the cut-off, shipped,
    arrived and both bags handed over to the resident."""
    world = await a_world(session, client, phones, shop_name)
    buyer: Resident = world["buyer"]
    payment = world["payment"]
    headers, body = providers.signed_notification(
        DEMO_SANDBOX_SECRET,
        intent_public_id=payment["public_id"],
        amount_fen=payment["amount_fen"],
        provider_txn_id=f"sbx-{payment['public_id'][:8]}",
    )
    paid = await client.post(providers.CALLBACK_PATH, content=body, headers=headers)
    assert paid.status_code == 200, paid.text
    order_url = f"{API}/orders/{world['order_id']}"
    await until(client, order_url, buyer.headers, lambda b: b["order"]["status"] == "paid")
    await session.execute(
        update(Campaign)
        .where(Campaign.id == world["campaign_id"])
        .values(cutoff_at=clock.now() - timedelta(seconds=1))
    )
    assert await cutoff.run_cutoff(session, world["campaign_id"]) is not None
    await session.commit()
    shop: Shop = world["shop"]
    shipped = await client.post(
        f"{API}/campaigns/{world['campaign_id']}/ship", headers=shop.headers
    )
    assert shipped.status_code == 200, shipped.text
    (delivery,) = shipped.json()
    arrived = await client.post(
        f"{API}/deliveries/{delivery['id']}/arrive", headers=world["leader_headers"]
    )
    assert arrived.status_code == 200, arrived.text
    ready = await until(
        client, order_url, buyer.headers, lambda b: b["order"]["pickup_code"] is not None
    )
    handed = await client.post(
        f"{API}/pickup-points/{world['point_id']}/pickups",
        json={"code": ready["order"]["pickup_code"]},
        headers=world["leader_headers"],
    )
    assert handed.status_code == 201, handed.text
    return world


def test_a_return_from_the_order_page_to_the_refund_on_it(
    server: LiveServer, people: People, tmp_path: Path
) -> None:
    base = server.url
    phones, shop_name = "1381234561", "退货粮油店"
    world = on_server(server, lambda s, c: collected_world(s, c, phones, shop_name))
    order_id = world["order_id"]

    resident = people.page_of("resident")
    log_in(resident, base, f"{phones}3", PASSWORD)
    resident.locator('nav.nav a[href="/groupbuy/orders"]').click()
    resident.locator(f'a[href="/groupbuy/orders/{order_id}"]').first.click()
    expect(resident.locator("h1 + p [data-status]")).to_have_attribute("data-status", "picked_up")
    resident.locator("[data-return-line]").click()
    form = resident.locator('form[action="/returns"]')
    form.locator('input[name="quantity"]').fill("1")
    form.locator('select[name="reason_code"]').select_option("changed_mind")
    form.locator('textarea[name="reason_text"]').fill("买多了")
    form.get_by_role("button", name="Ask to return").click()
    expect(resident.locator(".flash")).to_have_text("Your return is requested.")
    asked = resident.locator("section[data-return]")
    expect(asked.locator("[data-status]")).to_have_attribute("data-status", "requested")
    return_id = asked.get_attribute("data-return")

    merchant = people.page_of("merchant")
    log_in(merchant, base, f"{phones}1", PASSWORD)
    act_for(merchant, base, shop_name)
    merchant.goto(f"{base}/merchant/returns")
    panel = merchant.locator(f'section[data-return="{return_id}"]')
    panel.get_by_role("button", name="Approve").click()
    expect(merchant.locator(".flash")).to_have_text("Your answer is recorded.")

    leader = people.page_of("leader")
    log_in(leader, base, f"{phones}2", PASSWORD)
    leader.goto(f"{base}/leader/returns")
    desk = leader.locator(f'section[data-return="{return_id}"]')
    desk.locator('select[name="condition"]').select_option("intact")
    desk.locator('input[name="note"]').fill("包装完好")
    photo = tmp_path / "rice.png"
    photo.write_bytes(png_bytes())
    desk.locator('input[name="photo"]').set_input_files(str(photo))
    desk.get_by_role("button", name="Received").click()
    expect(leader.locator(".flash")).to_have_text("The goods are recorded as received.")

    merchant.reload()
    panel = merchant.locator(f'section[data-return="{return_id}"]')
    expect(panel.locator("[data-status]")).to_have_attribute("data-status", "received")
    panel.get_by_role("button", name="Refund ¥15.00").click()
    expect(merchant.locator(".flash")).to_have_text("Refunded.")

    resident.goto(f"{base}/returns")
    mine = resident.locator(f'section[data-return="{return_id}"]')
    expect(mine.locator("[data-status]")).to_have_attribute("data-status", "refunded")
    expect(mine.locator("[data-condition]")).to_contain_text("包装完好")
    expect(mine.locator(".gallery img")).to_have_count(1)
    resident.goto(f"{base}/groupbuy/orders/{order_id}")
    expect(resident.locator("[data-refunded]")).to_have_text("¥15.00")
    expect(resident.locator("tr[data-line]").first).to_contain_text("1 returned")


def test_a_complaint_refused_by_the_platform_is_mediated_by_the_regulator(
    server: LiveServer, people: People
) -> None:
    base = server.url
    phones, shop_name = "1381234562", "投诉粮油店"

    async def arrange(session: AsyncSession, client: httpx.AsyncClient) -> dict[str, Any]:
        world = await a_world(session, client, phones, shop_name)
        operator = await make_user(session, phone=f"{phones}4", name="赵运营", password=PASSWORD)
        await make_org(session, "platform", name="邻里平台", owner=operator, role="operator")
        supervisor = await make_user(session, phone=f"{phones}5", name="钱监管", password=PASSWORD)
        await make_org(
            session,
            "regulator",
            name="浦东新区市场监管局",
            owner=supervisor,
            province_code="310000",
            city_code="310100",
            district_code=DISTRICT,
        )
        return world

    world = on_server(server, arrange)
    order_id = world["order_id"]

    resident = people.page_of("resident")
    log_in(resident, base, f"{phones}3", PASSWORD)
    resident.locator('nav.nav a[href="/groupbuy/orders"]').click()
    resident.locator(f'a[href="/groupbuy/orders/{order_id}"]').first.click()
    resident.get_by_test_id("complain").click()
    form = resident.locator('form[action="/protection/complaints/new"]')
    form.locator('select[name="target"]').select_option("merchant")
    form.locator('select[name="to"]').select_option("platform")
    form.locator('textarea[name="text"]').fill("商家迟迟不发货，也不回复。")
    form.get_by_role("button", name="File the complaint").click()
    expect(resident.locator(".flash")).to_have_text("Complaint filed.")
    match = re.search(r"/protection/complaints/(\d+)$", resident.url)
    assert match, resident.url
    complaint_id = match.group(1)

    operator = people.page_of("operator")
    log_in(operator, base, f"{phones}4", PASSWORD)
    act_for(operator, base, "邻里平台")
    operator.goto(f"{base}/ops/complaints")
    operator.locator(f'a[href="/protection/complaints/{complaint_id}"]').click()
    refuse = operator.locator(f'form[action="/protection/complaints/{complaint_id}/refuse"]')
    refuse.locator('textarea[name="reason"]').fill("属于市场监管部门管辖，请向监管部门投诉。")
    refuse.get_by_role("button", name="Do not accept").click()
    expect(operator.locator("[data-status]").first).to_have_attribute("data-status", "refused")

    resident.reload()
    escalate = resident.locator(f'form[action="/protection/complaints/{complaint_id}/escalate"]')
    escalate.locator('textarea[name="reason"]').fill("平台建议向监管部门投诉。")
    escalate.get_by_role("button", name="Take it to the regulator").click()
    expect(resident.locator("[data-status]").first).to_have_attribute("data-status", "filed")

    regulator = people.page_of("regulator")
    log_in(regulator, base, f"{phones}5", PASSWORD)
    act_for(regulator, base, "浦东新区市场监管局")
    regulator.goto(f"{base}/regulator/complaints")
    regulator.locator(f'a[href="/protection/complaints/{complaint_id}"]').click()
    regulator.get_by_role("button", name="Accept", exact=True).click()
    expect(regulator.locator("[data-status]").first).to_have_attribute("data-status", "accepted")
    regulator.get_by_role("button", name="Start mediation").click()
    expect(regulator.locator("[data-status]").first).to_have_attribute(
        "data-status", "in_mediation"
    )
    resolve = regulator.locator(f'form[action="/protection/complaints/{complaint_id}/resolve"]')
    resolve.locator('select[name="outcome"]').select_option("mediated")
    resolve.locator('textarea[name="text"]').fill("商家三日内发货并补偿优惠券20元。")
    resolve.get_by_role("button", name="Resolve").click()
    expect(regulator.locator("[data-outcome]").first).to_have_attribute("data-outcome", "mediated")

    resident.reload()
    expect(resident.locator("[data-status]").first).to_have_attribute("data-status", "resolved")
    expect(resident.locator("[data-outcome]").first).to_have_attribute("data-outcome", "mediated")
    expect(resident.locator("section.panel", has_text="Agreement")).to_contain_text(
        "商家三日内发货并补偿优惠券20元。"
    )

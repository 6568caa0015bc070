"""A group buy from order to pickup, in headless Chromium against a served instance.

Arranged directly (as the onboarding and leader-review journeys are tested elsewhere): a
verified merchant with a listed SKU, a community with a pickup point run by an approved
leader (10 % commission), and a resident with an account. Then, in the browser: the merchant
creates and publishes a campaign; the resident chooses the pickup point on /communities,
orders on /groupbuy and pays on the sandbox page; the cut-off runs (its time moved to now in
the server's database, and the cut-off job run there, like the scheduler would); the merchant
ships; the leader confirms arrival and verifies the code the resident reads off the order
page; the resident's order shows "Picked up" and the leader's earnings the commission.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.community.models import Community, Leader, PickupPoint
from linli.groupbuy import cutoff
from linli.groupbuy.campaigns import LOCAL
from linli.groupbuy.models import Campaign
from tests.browser import BROWSER_MARKS, People, act_for, log_in, on_server, people_of
from tests.browser import browser as browser
from tests.catalog.helpers import product_body
from tests.factories import make_merchant, make_token, make_user
from tests.live import LiveServer, serve_live

T = TypeVar("T")
PASSWORD = "Neighbour-2026"
MERCHANT_PHONE = "13812345601"
LEADER_PHONE = "13812345602"
RESIDENT_PHONE = "13812345603"
SHOP = "邻里粮油店"
POINT = "5号楼快递驿站"
TITLE = "周末大米团"
COMMISSION_BP = 1000  # 10 %
PAYMENT_WAIT_S = 20.0

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("groupbuy-live"), "groupbuy") as served:
        yield served


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


async def arrange(session: AsyncSession) -> dict[str, Any]:
    """The merchant (verified, with an API token to list its product), the pickup point with
    its approved leader, and the resident."""
    owner = await make_user(session, phone=MERCHANT_PHONE, name="粮油店主", password=PASSWORD)
    shop = await make_merchant(session, owner, name=SHOP, scope=("groceries",))
    token = await make_token(session, owner, organisation=shop)
    leader = await make_user(session, phone=LEADER_PHONE, name="李团长", password=PASSWORD)
    await make_user(session, phone=RESIDENT_PHONE, name="王阿姨", password=PASSWORD)
    now = clock.now()
    community = Community(
        name="金桥花园",
        province_code="310000",
        city_code="310100",
        district_code="310115",
        address="上海市浦东新区金桥路8号",
        latitude_e6=31_250_000,
        longitude_e6=121_600_000,
        created_at=now,
    )
    session.add(community)
    await session.flush()
    session.add(Leader(user_id=leader.id, commission_bp=COMMISSION_BP, approved_at=now))
    point = PickupPoint(
        community_id=community.id,
        name=POINT,
        address="金桥路8号5号楼",
        opening_hours="09:00-21:00",
        daily_capacity=300,
        leader_user_id=leader.id,
        active=True,
        created_at=now,
    )
    session.add(point)
    await session.flush()
    return {"token": token, "point_id": point.id}


def list_product(server: LiveServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    body = product_body(
        category="groceries",
        storage_class="ambient",
        name="五常大米",
        unit="袋",
        gtin=None,
        sku={"code": "5KG", "price_fen": 2990, "stock": 100},
    )
    products = f"{server.url}/api/v1/catalog/merchant/products"
    created = httpx.post(products, json=body, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    listed = httpx.post(f"{products}/{created.json()['id']}/list", headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text


def run_cutoff_now(server: LiveServer, campaign_id: int) -> None:
    """Time passes: the cut-off is moved to this moment and its job runs."""

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(cutoff_at=clock.now() - timedelta(seconds=1))
        )
        result = await cutoff.run_cutoff(session, campaign_id)
        assert result is not None
        assert result.confirmed_orders == 1

    on_server(server, lambda session, _client: work(session))


def local_input(moment: Any) -> str:
    return str(moment.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M"))


def create_and_publish(page: Page, base: str) -> int:
    page.locator('nav.nav a[href="/merchant/groupbuy"]').click()
    expect(page).to_have_url(f"{base}/merchant/groupbuy")
    now = clock.now()
    form = page.locator('form[action="/merchant/groupbuy"]')
    form.locator('input[name="title"]').fill(TITLE)
    form.locator('input[name="opens_at"]').fill(local_input(now - timedelta(hours=1)))
    form.locator('input[name="cutoff_at"]').fill(local_input(now + timedelta(days=1)))
    pickup = (now + timedelta(days=3)).astimezone(LOCAL).date().isoformat()
    form.locator('input[name="pickup_date"]').fill(pickup)
    row = form.locator('[data-item-row="0"]')
    row.locator('select[name="sku_0"]').select_option(label="五常大米 · 5KG (¥29.90)")
    row.locator('input[name="price_0"]').fill("15")
    row.locator('input[name="limit_0"]').fill("5")
    row.locator('input[name="stock_0"]').fill("20")
    row.locator('input[name="min_group_0"]').fill("1")
    form.get_by_role("button", name="Save draft").click()
    expect(page.locator(".flash")).to_contain_text("Campaign saved as a draft")
    match = re.search(r"/merchant/groupbuy/(\d+)$", page.url)
    assert match, page.url
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("[data-campaign-status]")).to_have_attribute(
        "data-campaign-status", "published"
    )
    return int(match.group(1))


def join_and_order(page: Page, base: str) -> int:
    page.locator('nav.nav a[href="/communities"]').click()
    point = page.locator("li", has_text=POINT)
    point.get_by_role("button", name="Pick up here").click()
    expect(page.locator(".flash")).to_have_text("You pick up your orders here from now on.")

    page.locator('nav.nav a[href="/groupbuy"]').click()
    campaign = page.locator("article", has_text=TITLE)
    campaign.locator('input[name^="qty_"]').fill("2")
    campaign.get_by_role("button", name="Order and pay").click()
    expect(page).to_have_url(re.compile(r"/pay/[0-9a-f-]+$"))
    expect(page.locator("[data-amount]")).to_have_text("¥30.00")
    page.get_by_role("button", name="Pay ¥30.00").click()
    expect(page.locator(".flash[role=status]")).to_contain_text("Payment sent.")

    page.locator('nav.nav a[href="/groupbuy/orders"]').click()
    link = page.locator("article[data-order] h2 a").first
    order_id = int((link.get_attribute("href") or "").rsplit("/", 1)[1])
    link.click()
    expect(page).to_have_url(f"{base}/groupbuy/orders/{order_id}")
    # The provider's confirmation arrives in the background (the sandbox calls back).
    wait_for_status(page, "paid")
    return order_id


def wait_for_status(page: Page, status: str) -> None:
    """Reload until the order page shows `status` (work done by the server's dispatcher)."""
    deadline = clock.now() + timedelta(seconds=PAYMENT_WAIT_S)
    while True:
        shown = page.locator("h1 + p [data-status]").get_attribute("data-status")
        if shown == status or clock.now() > deadline:
            break
        page.wait_for_timeout(300)
        page.reload()
    expect(page.locator("h1 + p [data-status]")).to_have_attribute("data-status", status)


def test_a_group_buy_from_order_to_pickup_and_commission(
    server: LiveServer, people: People
) -> None:
    base = server.url
    arranged = on_server(server, lambda session, _client: arrange(session))
    list_product(server, arranged["token"])

    merchant = people.page_of("merchant")
    log_in(merchant, base, MERCHANT_PHONE, PASSWORD)
    act_for(merchant, base, SHOP)
    campaign_id = create_and_publish(merchant, base)

    resident = people.page_of("resident")
    log_in(resident, base, RESIDENT_PHONE, PASSWORD)
    order_id = join_and_order(resident, base)

    run_cutoff_now(server, campaign_id)
    resident.reload()
    wait_for_status(resident, "confirmed")
    expect(resident.locator("[data-pickup-code]")).to_have_count(0)  # not before arrival

    merchant.goto(f"{base}/merchant/groupbuy/{campaign_id}")
    delivery = merchant.locator("tr[data-delivery]", has_text=POINT)
    delivery.get_by_role("button", name="Ship").click()
    expect(merchant.locator(".flash")).to_have_text("Marked as shipped.")
    expect(delivery.locator("[data-status]")).to_have_attribute("data-status", "shipped")

    leader = people.page_of("leader")
    log_in(leader, base, LEADER_PHONE, PASSWORD)
    leader.locator('nav.nav a[href="/leader/pickup"]').click()
    expect(leader).to_have_url(f"{base}/leader/pickup")
    incoming = leader.locator("tr[data-delivery]", has_text=TITLE)
    incoming.get_by_role("button", name="Confirm arrival").click()
    expect(leader.locator(".flash")).to_contain_text("Arrival confirmed")
    expect(leader.locator("[data-waiting]")).to_have_text("1 orders waiting for pickup")

    resident.reload()
    wait_for_status(resident, "ready_for_pickup")
    code = resident.locator("[data-pickup-code]").inner_text().strip()
    assert re.fullmatch(r"\d{6}", code), code
    expect(resident.locator(".qr svg")).to_have_count(1)
    expect(resident.locator(".pickup")).to_contain_text("Collect by")

    desk = leader.locator('form[action="/leader/pickup/find"]')
    desk.locator('input[name="code"]').fill(code)
    desk.get_by_role("button", name="Find the order").click()
    found = leader.locator(f'[data-found-order="{order_id}"]')
    expect(found).to_contain_text("王阿姨")
    expect(found.locator('input[name^="qty_"]')).to_have_value("2")
    found.get_by_role("button", name="Hand over").click()
    expect(leader.locator(".flash")).to_contain_text(f"Order #{order_id} handed over completely.")

    resident.reload()
    wait_for_status(resident, "picked_up")
    expect(resident.locator("h1 + p [data-status]")).to_have_text("Picked up")

    leader.locator('nav.nav a[href="/leader/earnings"]').click()
    # 10 % of 2 x ¥15.00
    expect(leader.locator("[data-accrued]")).to_have_text("¥3.00")
    expect(leader.locator("[data-net]")).to_have_text("¥3.00")
    expect(leader.locator("tr[data-commission]")).to_have_count(1)

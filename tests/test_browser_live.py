"""Live selling in headless Chromium against a served instance: a merchant goes live and pins
goods from the studio; a resident watching in another browser sees the pin arrive over the
room's WebSocket (the page was not reloaded by hand), likes, buys at the stream price and pays;
the resident's live orders show the room, and the studio's statistics the sale.

Arranged directly (onboarding is tested elsewhere): a verified merchant with a listed SKU, its
owner registered as the streamer, a room scheduled now with the SKU as goods, and a resident.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from tests.browser import BROWSER_MARKS, People, act_for, log_in, on_server, people_of
from tests.browser import browser as browser
from tests.catalog.helpers import product_body
from tests.factories import make_merchant, make_token, make_user
from tests.live import LiveServer, serve_live
from tests.live_selling.helpers import identity_number, years_ago

PASSWORD = "Neighbour-2026"
MERCHANT_PHONE = "13812345611"
RESIDENT_PHONE = "13812345612"
SHOP = "烟台果园直播店"
TITLE = "今晚苹果专场"
PAYMENT_WAIT_S = 20.0

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("live-selling"), "live_selling") as served:
        yield served


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


async def arrange(session: AsyncSession, client: httpx.AsyncClient) -> dict[str, Any]:
    """The shop, its listed SKU, the owner as streamer, a room scheduled now with the SKU as
    goods (¥9.90 on stream, 20 units), and the resident."""
    owner = await make_user(session, phone=MERCHANT_PHONE, name="果园店主", password=PASSWORD)
    shop = await make_merchant(session, owner, name=SHOP, scope=("groceries",))
    headers = {"Authorization": f"Bearer {await make_token(session, owner, organisation=shop)}"}
    await make_user(session, phone=RESIDENT_PHONE, name="王阿姨", password=PASSWORD)
    await session.commit()

    async def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await client.post(path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    products = "/api/v1/catalog/merchant/products"
    product = await post(
        products,
        product_body(
            category="groceries",
            storage_class="ambient",
            name="烟台红富士苹果",
            unit="箱",
            gtin=None,
            sku={"code": "5KG", "price_fen": 1990, "stock": 100},
        ),
    )
    await post(f"{products}/{product['id']}/list")
    # Going live needs the seller's public after-sales contact (rule live.commerce).
    contact = await client.put(
        "/api/v1/merchants/me/after-sales",
        json={"phone": "139 1380 0013", "terms": "七天无理由退货"},
        headers=headers,
    )
    assert contact.status_code == 200, contact.text
    streamer = await post(
        "/api/v1/live/merchant/streamers",
        {
            "user_id": owner.id,
            "real_name": "李主播",
            "identity_number": identity_number(years_ago(30)),
        },
    )
    now = clock.now()
    room = await post(
        "/api/v1/live/merchant/rooms",
        {
            "streamer_id": streamer["id"],
            "title": TITLE,
            "description": "产地直发",
            "scheduled_start": now.isoformat(),
            "scheduled_end": (now + timedelta(hours=1)).isoformat(),
        },
    )
    goods = await post(
        f"/api/v1/live/merchant/rooms/{room['id']}/goods",
        {
            "sku_id": product["skus"][0]["id"],
            "stream_price_fen": 990,
            "stock": 20,
            "per_buyer_limit": 5,
        },
    )
    return {"room_id": room["id"], "goods_id": goods["id"]}


def wait_for_paid(page: Page, order: str) -> None:
    """Reload until the order shows paid (the sandbox calls back, the dispatcher applies it)."""
    deadline = clock.now() + timedelta(seconds=PAYMENT_WAIT_S)
    status = page.locator(f"{order} [data-status]")
    while status.get_attribute("data-status") != "paid" and clock.now() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(status).to_have_attribute("data-status", "paid")


def test_a_resident_sees_the_pin_arrive_over_the_channel_and_buys_in_the_room(
    server: LiveServer, people: People
) -> None:
    base = server.url
    arranged = on_server(server, arrange)
    room_id, goods_id = arranged["room_id"], arranged["goods_id"]

    merchant = people.page_of("merchant")
    log_in(merchant, base, MERCHANT_PHONE, PASSWORD)
    act_for(merchant, base, SHOP)
    merchant.goto(f"{base}/merchant/live/{room_id}")
    merchant.get_by_test_id("studio-start").click()
    expect(merchant.get_by_test_id("stream-key")).to_contain_text("live_")

    resident = people.page_of("resident")
    log_in(resident, base, RESIDENT_PHONE, PASSWORD)
    resident.goto(f"{base}/live/{room_id}")
    expect(resident.locator("[data-pinned-none]")).to_be_visible()
    expect(resident.locator("[data-live-viewers]")).to_have_text("1")  # the channel is open

    merchant.goto(f"{base}/merchant/live/{room_id}")
    merchant.get_by_test_id(f"studio-pin-{goods_id}").click()
    expect(merchant.locator(".flash")).to_have_text("Pinned: on sale now.")

    # The resident's page follows the channel: the pin arrives without a hand on the page.
    expect(resident.locator("[data-pinned-name]")).to_have_text("烟台红富士苹果")
    expect(resident.locator("[data-pinned-price]")).to_have_text("¥9.90")
    expect(resident.locator("[data-live-viewers]")).to_have_text("1")
    resident.get_by_test_id("live-like").click()
    resident.get_by_test_id("live-like").click()
    expect(resident.locator("[data-live-likes]")).to_have_text("2")

    resident.locator("[data-buy-form] input[name=quantity]").fill("2")
    resident.get_by_test_id("live-buy").click()
    expect(resident).to_have_url(re.compile(r"/pay/[0-9a-f-]+$"))
    expect(resident.locator("[data-amount]")).to_have_text("¥19.80")
    resident.get_by_role("button", name="Pay ¥19.80").click()
    expect(resident.locator(".flash[role=status]")).to_contain_text("Payment sent.")

    resident.locator('nav.nav a[href="/live/orders"]').click()
    order = resident.locator("article[data-live-order]").first
    expect(order.locator("[data-room-link]")).to_have_text(TITLE)
    expect(order.locator("[data-room-link]")).to_have_attribute("href", f"/live/{room_id}")
    wait_for_paid(resident, "article[data-live-order]")

    merchant.goto(f"{base}/merchant/live/{room_id}")
    statistics = merchant.get_by_test_id("studio-statistics")
    expect(statistics).to_contain_text("1 (2 units)")
    expect(statistics).to_contain_text("¥19.80")
    expect(merchant.get_by_test_id("studio-goods")).to_contain_text("18 / 20")

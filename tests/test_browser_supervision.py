"""Supervision in headless Chromium against a served instance, by pages only (issue 13, "a
browser journey"): a regulator's supervisor opens a price-gouging alert into a case, the
inspector it was assigned to records a finding, the supervisor records a penalty, and the
public disclosure page shows it (in English, then switched to Chinese); the charts page then
draws with no resource refused or fetched from elsewhere.

Arranged directly and through the API with a token (the authority, its inspector, the merchant,
the emergency declaration, the raised price and the alert it fires): the journey itself is
clicks and forms. Mirrors tests/supervision/test_pages.py::
test_alert_to_case_to_public_penalty_through_the_pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.supervision import rule_defaults as R
from linli.supervision import rule_gouging
from tests.browser import BROWSER_MARKS, People, act_for, log_in, on_server, people_of
from tests.browser import browser as browser
from tests.factories import grant, make_merchant, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer
from tests.live import LiveServer, serve_live
from tests.supervision.world import a_sku, alerts

PASSWORD = "Neighbour-2026"
AUTHORITY = "浦东新区市场监管局"
SHOP = "浦东哄抬菜店"
PUDONG = {"province_code": "310000", "city_code": "310100", "district_code": "310115"}

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("supervision-live"), "supervision") as served:
        yield served


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


def test_a_regulator_turns_an_alert_into_a_published_penalty(
    server: LiveServer, people: People
) -> None:
    base = server.url
    phones = "1391234567"

    async def arrange(session: AsyncSession, client: httpx.AsyncClient) -> dict[str, Any]:
        chief = await make_user(session, phone=f"{phones}1", name="钱科长", password=PASSWORD)
        authority = await make_org(session, "regulator", name=AUTHORITY, owner=chief, **PUDONG)
        inspector = await make_user(session, phone=f"{phones}2", name="孙检查员", password=PASSWORD)
        await grant(session, authority, inspector, "inspector")
        owner = await make_user(session, phone=f"{phones}3", name="菜店老板", password=PASSWORD)
        shop = await make_merchant(session, owner, name=SHOP)
        for name, code in PUDONG.items():
            setattr(shop, name, code)
        await session.commit()
        token = bearer(await make_token(session, chief, organisation=authority))
        declared = await client.post(
            "/api/v1/supervision/emergencies",
            json={
                "title": "寒潮保供",
                "region_code": PUDONG["district_code"],
                "categories": ["fresh_food"],
                "starts_at": (clock.now() - timedelta(hours=1)).isoformat(),
                "ends_at": (clock.now() + timedelta(days=3)).isoformat(),
            },
            headers=token,
        )
        assert declared.status_code == 201, declared.text
        # A first price inside the emergency, then +25 % (over the 15 % without a reference).
        sku = await a_sku(session, shop, 800)
        assert await rule_gouging.price_gouging(session, sku.id, 1000)
        await session.commit()
        (alert,) = await alerts(session, R.PRICE_GOUGING)
        return {"alert_id": alert.id, "inspector_id": inspector.id}

    world = on_server(server, arrange)
    alert_id = world["alert_id"]

    chief = people.page_of("chief")
    log_in(chief, base, f"{phones}1", PASSWORD)
    act_for(chief, base, AUTHORITY)
    chief.locator('nav.nav a[href="/regulator/alerts"]').click()
    alert = chief.locator(f'article[data-alert="{alert_id}"]')
    expect(alert).to_contain_text("Price gouging")
    opening = alert.locator(f'form[action="/regulator/alerts/{alert_id}/case"]')
    opening.locator('input[name="title"]').fill("寒潮期间蔬菜涨价")
    opening.locator('select[name="strategy"]').select_option("least_loaded")
    opening.get_by_role("button", name="Open a case").click()
    expect(chief.locator(".flash")).to_have_text("Case opened.")
    expect(chief.get_by_test_id("status")).to_have_text("investigating")
    expect(chief.locator("section.panel").first).to_contain_text(f"#{world['inspector_id']}")
    case_path = chief.url.removeprefix(base)
    assert case_path.startswith("/regulator/cases/"), chief.url

    # The inspector the case went to finds it on the board and records a finding.
    inspector = people.page_of("inspector")
    log_in(inspector, base, f"{phones}2", PASSWORD)
    act_for(inspector, base, AUTHORITY)
    inspector.goto(f"{base}/regulator/cases")
    inspector.locator(f'a[href="{case_path}"]').first.click()
    entry = inspector.locator(f'form[action="{case_path}/entries"]')
    entry.locator('select[name="kind"]').select_option("finding")
    entry.locator('textarea[name="text"]').fill("现场核查：大白菜由8元涨至10元。")
    entry.get_by_role("button", name="Add").click()
    expect(inspector.locator('li[data-entry="finding"]')).to_contain_text("大白菜由8元涨至10元")
    expect(inspector.locator(f'form[action="{case_path}/decision"]')).to_have_count(0)

    chief.reload()
    decide = chief.locator(f'form[action="{case_path}/decision"]')
    decide.locator('select[name="decision"]').select_option("penalty")
    decide.locator('textarea[name="summary"]').fill("哄抬蔬菜价格，罚款五千元")
    decide.locator('input[name="legal_basis"]').fill("价格法第十四条")
    decide.locator('input[name="penalty"]').fill("5,000.00")
    decide.get_by_role("button", name="Record decision").click()
    expect(chief.locator("section.panel").first).to_contain_text("¥5,000.00")
    expect(chief.locator('li[data-entry="decided"]')).to_have_count(1)

    public = people.page_of("public")
    public.goto(f"{base}/supervision/penalties")
    case_id = case_path.rsplit("/", 1)[-1]
    row = public.locator(f'tr[data-case="{case_id}"]')
    expect(row).to_contain_text(AUTHORITY)
    expect(row).to_contain_text(SHOP)
    expect(row).to_contain_text("哄抬蔬菜价格，罚款五千元")
    expect(row).to_contain_text("¥5,000.00")
    expect(row).to_contain_text("价格法第十四条")
    expect(public.locator("main")).not_to_contain_text("大白菜由8元涨至10元")  # findings stay in
    public.locator('form.lang button[data-lang="zh_Hans"]').click()
    expect(public.locator("h1")).to_have_text("行政处罚决定公示")
    expect(public.locator(f'tr[data-case="{case_id}"]')).to_contain_text("¥5,000.00")

    # The charts page: drawn on the server, styled by our CSS, nothing refused by the
    # Content-Security-Policy and nothing fetched from elsewhere.
    refused: list[str] = []
    chief.on("console", lambda message: refused.append(message.text))
    requested: list[str] = []
    chief.on("request", lambda request: requested.append(request.url))
    chief.locator('nav.nav a[href="/regulator/charts"]').click()
    expect(chief.locator("svg.linli-chart")).to_have_count(3)
    expect(chief.locator('section[data-chart="prices"] li[data-emergency]')).to_contain_text(
        "寒潮保供"
    )
    fill = chief.locator("svg.chart-alerts .plot .background").first.evaluate(
        "element => getComputedStyle(element).fill"
    )
    assert fill == "rgb(255, 255, 255)", fill  # charts.css applied
    assert refused == [], refused
    assert all(url.startswith(base) for url in requested), requested

    # On a phone the page does not scroll sideways (the charts shrink, the tables scroll).
    chief.set_viewport_size({"width": 390, "height": 844})
    for language, tag in (("en", "en"), ("zh_Hans", "zh-Hans")):
        chief.reload()
        switch = chief.locator(f'form.lang button[data-lang="{language}"]')
        if switch.count():
            switch.click()
        expect(chief.locator("html")).to_have_attribute("lang", tag)
        expect(chief.locator("svg.linli-chart")).to_have_count(3)
        scroll, width = chief.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll <= width, (language, scroll, width)
    expect(chief.locator("h1")).to_have_text("监管图表")

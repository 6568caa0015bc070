"""The regulator's charts: the Laspeyres index by hand, each chart's numbers through the API
(Shanghai day boundaries, the authority's own rows only), the basket's validation and audit,
and the page in both languages loading nothing from elsewhere."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.audit.models import AuditEntry
from linli.catalog.models import PriceChange, Sku
from linli.clock import FrozenClock
from linli.errors import ValidationFailed
from linli.supervision import rule_defaults as R
from linli.supervision.alert_models import Alert, Signal
from linli.supervision.chart_figures import laspeyres, prices_at, rate_pct, span
from tests.factories import form_login, login, make_merchant, make_user
from tests.supervision.world import World, a_sku, a_world

CHARTS = "/api/v1/supervision/charts"


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- the maths ------------------------------------------------------------------------------


def test_laspeyres_by_hand() -> None:
    # Rice 2 bags ¥5.00 -> ¥6.00, oil 1 bottle ¥10.00 -> ¥9.00, eggs 3 boxes ¥2.00 -> ¥2.50:
    # then 2×500 + 1×1000 + 3×200 = 2600 fen, now 2×600 + 1×900 + 3×250 = 2850 fen,
    # 2850 / 2600 × 100 = 109.6153… -> 109.62.
    quantities = {1: 2, 2: 1, 3: 3}
    base = {1: 500, 2: 1000, 3: 200}
    assert laspeyres(quantities, base, {1: 600, 2: 900, 3: 250}) == Decimal("109.62")
    assert laspeyres(quantities, base, base) == Decimal("100.00")
    # A fixed basket is compared whole: a SKU without a price gives no index.
    assert laspeyres(quantities, base, {1: 600, 2: 900}) is None
    assert laspeyres({}, base, base) is None
    assert rate_pct(1, 3) == Decimal("33.33")
    assert rate_pct(1, 0) is None


def test_prices_in_force_just_before_each_moment() -> None:
    history = [(1, _utc(2026, 1, 1), 100), (2, _utc(2026, 1, 2), 50), (1, _utc(2026, 1, 3), 120)]
    found = prices_at(history, [_utc(2026, 1, 1), _utc(2026, 1, 2, 1), _utc(2026, 1, 4)])
    assert found == [{}, {1: 100, 2: 50}, {1: 120, 2: 50}]


def test_span_is_bounded() -> None:
    assert span(3, date(2026, 1, 2)) == [date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2)]
    for days in (0, 367):
        with pytest.raises(ValidationFailed, match="366"):
            span(days)


# --- arranging --------------------------------------------------------------------------------


async def _price(session: AsyncSession, sku: Sku, price: int, at: datetime) -> None:
    session.add(
        PriceChange(
            sku_id=sku.id,
            old_price_fen=sku.price_fen,
            new_price_fen=price,
            changed_at=at,
            source="edit",
        )
    )
    sku.price_fen = price
    await session.commit()


async def _far_merchant(session: AsyncSession, w: World) -> Organisation:
    owner = await make_user(session, name="杭州店主")
    shop = await make_merchant(session, owner, name="杭州菜店")
    shop.province_code, shop.city_code, shop.district_code = "330000", "330100", "330102"
    await session.commit()
    return shop


def _alert(rule_id: str, merchant: int, regulator: int, at: datetime, n: int) -> Alert:
    return Alert(
        rule_id=rule_id,
        rule_version=1,
        rule_jurisdiction="CN",
        severity="medium",
        organisation_id=merchant,
        regulator_organisation_id=regulator,
        subject=f"test:{n}",
        dedupe_key=f"{rule_id}|{merchant}|test:{n}",
        status="open",
        count=3,
        summary="测试",
        inputs={},
        evidence=[],
        first_at=at,
        last_at=at,
    )


# --- through the API ----------------------------------------------------------------------------


async def test_price_index_against_the_base_date_with_the_emergency_marked(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    # The clock: 2026-11-26 10:00 in Shanghai.
    w = await a_world(session)
    rice = await a_sku(session, w.merchant, 500, at=_utc(2026, 11, 19, 2))
    oil = await a_sku(session, w.merchant, 1000, at=_utc(2026, 11, 19, 2))
    # 23:59 on the 22nd in Shanghai: the 22nd's closing price.
    await _price(session, rice, 600, _utc(2026, 11, 22, 15, 59))
    # 00:00 on the 24th in Shanghai: not the 23rd's.
    await _price(session, oil, 900, _utc(2026, 11, 23, 16, 0))
    await login(client, w.officer, organisation=w.regulator)
    empty = await client.get(f"{CHARTS}/basket")
    assert empty.json() == {"title": "", "base_date": None, "updated_at": None, "items": []}

    saved = await client.put(
        f"{CHARTS}/basket",
        json={
            "title": "民生必需品",
            "base_date": "2026-11-20",
            "items": [{"sku_id": rice.id, "quantity": 2}, {"sku_id": oil.id, "quantity": 1}],
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["items"] == [
        {"sku_id": rice.id, "quantity": 2},
        {"sku_id": oil.id, "quantity": 1},
    ]
    declared = await client.post(
        "/api/v1/supervision/emergencies",
        json={
            "title": "寒潮保供",
            "region_code": "310000",
            "categories": ["fresh_food"],
            "starts_at": clock.now().isoformat(),
            "ends_at": (clock.now() + timedelta(days=3)).isoformat(),
        },
    )
    assert declared.status_code == 201, declared.text

    got = await client.get(f"{CHARTS}/price-index", params={"days": 8})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["days"][0] == "2026-11-19"
    assert body["days"][-1] == "2026-11-26"
    # Base cost 2×500 + 1×1000 = 2000 fen. The 22nd: 2×600 + 1000 = 2200 (110); from the
    # 24th: 2×600 + 900 = 2100 (105).
    assert body["index"] == [
        "100.00",
        "100.00",
        "100.00",
        "110.00",
        "110.00",
        "105.00",
        "105.00",
        "105.00",
    ]
    assert body["in_emergency"] == [False] * 7 + [True]
    assert [e["title"] for e in body["emergencies"]] == ["寒潮保供"]
    assert [
        (line["sku_id"], line["base_price_fen"], line["last_price_fen"]) for line in body["basket"]
    ] == [
        (rice.id, 500, 600),
        (oil.id, 1000, 900),
    ]
    entry = await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "supervision.basket_saved")
    )
    assert entry is not None
    assert entry.user_id == w.officer.id
    assert entry.details["after"]["items"] == [[rice.id, 2], [oil.id, 1]]


async def test_basket_refuses_bad_input_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    ours = await a_sku(session, w.merchant, 500, at=_utc(2026, 11, 19, 2))
    late = await a_sku(session, w.merchant, 700, at=_utc(2026, 11, 25, 2))
    theirs = await a_sku(session, await _far_merchant(session, w), 500, at=_utc(2026, 11, 1))
    await login(client, w.officer, organisation=w.regulator)

    def body(**changes: object) -> dict[str, object]:
        return {
            "title": "民生必需品",
            "base_date": "2026-11-20",
            "items": [{"sku_id": ours.id, "quantity": 1}],
        } | changes

    cases = [
        (body(items=[{"sku_id": theirs.id, "quantity": 1}]), "items.0.sku_id"),
        (
            body(items=[{"sku_id": ours.id, "quantity": 1}, {"sku_id": late.id, "quantity": 1}]),
            "items.1.sku_id",
        ),
        (body(items=[{"sku_id": 99999999, "quantity": 1}]), "items.0.sku_id"),
        (body(items=[{"sku_id": ours.id, "quantity": 0}]), "quantity"),
        (body(items=[{"sku_id": ours.id, "quantity": 1}] * 2), "items.1.sku_id"),
        (body(items=[]), "items"),
        (body(base_date="2026-11-27"), "base_date"),
        (body(base_date="tomorrow"), "base_date"),
        (body(base_date="0001-01-01"), "base_date"),
        (body(title=" "), "title"),
    ]
    for sent, field in cases:
        refused = await client.put(f"{CHARTS}/basket", json=sent)
        assert refused.status_code == 422, (sent, refused.text)
        fields = refused.json()["error"].get("fields", {})
        assert any(field in name for name in fields), (field, refused.text)
    # Another authority's SKU is refused exactly like a SKU that does not exist.
    one = await client.put(f"{CHARTS}/basket", json=cases[0][0])
    two = await client.put(f"{CHARTS}/basket", json=cases[2][0])
    assert one.json() == two.json()
    empty = await client.get(f"{CHARTS}/basket")
    assert empty.json() == {"title": "", "base_date": None, "updated_at": None, "items": []}


async def test_charts_are_the_authoritys_own(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    far_shop = await _far_merchant(session, w)
    session.add_all(
        [
            # 00:30 on the 25th in Shanghai (16:30 UTC on the 24th).
            _alert(R.PRICE_GOUGING, w.merchant.id, w.regulator.id, _utc(2026, 11, 24, 16, 30), 1),
            _alert(R.PRICE_GOUGING, w.merchant.id, w.regulator.id, _utc(2026, 11, 25, 1), 2),
            _alert(R.COMPLAINT_RATE, w.merchant.id, w.regulator.id, _utc(2026, 11, 26, 1), 3),
            _alert(R.PRICE_GOUGING, far_shop.id, w.far.id, _utc(2026, 11, 25, 1), 4),
        ]
    )
    for n in range(10):
        session.add(
            Signal(
                organisation_id=w.merchant.id,
                kind="order_paid",
                ref=f"order:{n}",
                at=_utc(2026, 11, 25, 3),
            )
        )
    session.add(
        Signal(organisation_id=w.merchant.id, kind="complaint", ref="c:1", at=_utc(2026, 11, 26, 1))
    )
    for n in range(5):
        session.add(
            Signal(
                organisation_id=far_shop.id, kind="complaint", ref=f"c:f{n}", at=_utc(2026, 11, 26)
            )
        )
    await session.commit()

    await login(client, w.officer, organisation=w.regulator)
    alerts = (await client.get(f"{CHARTS}/alerts", params={"days": 3})).json()
    assert alerts["days"] == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert {s["rule_id"]: s["counts"] for s in alerts["series"]} == {
        R.COMPLAINT_RATE: [0, 0, 1],
        R.PRICE_GOUGING: [0, 2, 0],
    }
    trend = (await client.get(f"{CHARTS}/complaint-rate", params={"days": 3})).json()
    assert trend["orders"] == [0, 10, 0]
    assert trend["complaints"] == [0, 0, 1]
    assert trend["rates_pct"] == [None, "0.00", "10.00"]
    assert trend["window_days"] == 30
    assert trend["threshold_pct"] == "5.00"

    far = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await login(far, w.far_officer, organisation=w.far)
    theirs = (await far.get(f"{CHARTS}/alerts", params={"days": 3})).json()
    assert {s["rule_id"]: s["counts"] for s in theirs["series"]} == {R.PRICE_GOUGING: [0, 1, 0]}
    their_trend = (await far.get(f"{CHARTS}/complaint-rate", params={"days": 3})).json()
    assert their_trend["complaints"] == [0, 0, 5]
    assert their_trend["orders"] == [0, 0, 0]
    await far.aclose()

    merchant = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await login(merchant, w.owner, organisation=w.merchant)
    for path in ("alerts", "complaint-rate", "price-index", "basket"):
        assert (await merchant.get(f"{CHARTS}/{path}")).status_code == 403
    assert (await merchant.get("/regulator/charts")).status_code == 403
    await merchant.aclose()
    assert (await client.get(f"{CHARTS}/alerts", params={"days": 400})).status_code == 422
    for until in ("0001-01-01", "9999-12-31"):
        far_off = await client.get(f"{CHARTS}/price-index", params={"until": until})
        assert far_off.status_code == 422, far_off.text
        assert "until" in far_off.json()["error"]["fields"]


# --- the page ---------------------------------------------------------------------------------


EXTERNAL = re.compile(r"""(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


async def test_charts_page_in_both_languages_loads_nothing_from_elsewhere(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    rice = await a_sku(session, w.merchant, 500, at=_utc(2026, 11, 19, 2))
    await _price(session, rice, 650, _utc(2026, 11, 24, 2))
    await login(client, w.officer, organisation=w.regulator)
    saved = await client.put(
        f"{CHARTS}/basket",
        json={
            "title": "<b>民生</b>",
            "base_date": "2026-11-20",
            "items": [{"sku_id": rice.id, "quantity": 1}],
        },
    )
    assert saved.status_code == 200, saved.text
    session.add(_alert(R.PRICE_GOUGING, w.merchant.id, w.regulator.id, _utc(2026, 11, 25, 1), 1))
    await session.commit()

    english = await client.get("/regulator/charts", headers={"Accept-Language": "en"})
    assert english.status_code == 200, english.text
    chinese = await client.get("/regulator/charts", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 200
    for page in (english, chinese):
        html = page.text
        assert html.count("<svg") >= 3
        assert re.search(r'<link rel="stylesheet" href="/static/charts\.[0-9a-f]{12}\.css">', html)
        assert not EXTERNAL.findall(html), EXTERNAL.findall(html)
        assert "<script" not in html.split("<main", 1)[-1]  # only the menu's script, in the header
        assert " style=" not in html
        assert "<style" not in html
        assert "pygal.org" not in html
        assert "&lt;b&gt;民生&lt;/b&gt;" in html
        assert "¥5.00" in html
        assert "¥6.50" in html
    assert "Price index of necessities" in english.text
    assert "Alerts raised by rule and day" in english.text
    assert "Complaint rate" in english.text
    assert "民生必需品价格指数" in chinese.text
    assert "按规则和日期的预警" in chinese.text
    assert "Price index of necessities" not in chinese.text
    assert "/regulator/charts" in english.text  # in the regulator's menu
    paths = app.openapi()["paths"]
    for path in ("alerts", "complaint-rate", "price-index", "basket"):
        assert f"{CHARTS}/{path}" in paths
    assert "put" in paths[f"{CHARTS}/basket"]
    css = await client.get("/static/charts.css")
    assert css.status_code == 200
    assert ".linli-chart" in css.text
    assert not re.search(r"url\(|@import|https?://", css.text.split("*/", 1)[1])


async def test_a_supervisor_sets_the_basket_on_the_page(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    rice = await a_sku(session, w.merchant, 500, at=_utc(2026, 11, 19, 2))
    page = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    csrf = await form_login(page, w.officer.phone)
    await page.put(
        "/api/v1/accounts/me/active-organisation",
        json={"organisation_id": w.regulator.id},
        headers={"X-CSRF-Token": csrf},
    )
    form = {"csrf_token": csrf, "title": "民生必需品", "base_date": "2026-11-20"}
    refused = await page.post("/regulator/charts/basket", data=form | {"items": f"{rice.id} x"})
    assert refused.status_code == 303
    shown = await page.get("/regulator/charts", headers={"Accept-Language": "en"})
    assert "Line 1: write a SKU id and a quantity" in shown.text
    assert (await page.get(f"{CHARTS}/basket")).json()["items"] == []

    saved = await page.post("/regulator/charts/basket", data=form | {"items": f"\n{rice.id}  2\n"})
    assert saved.status_code == 303
    assert (await page.get(f"{CHARTS}/basket")).json()["items"] == [
        {"sku_id": rice.id, "quantity": 2}
    ]
    shown = await page.get("/regulator/charts", headers={"Accept-Language": "zh-CN"})
    assert "Basket saved." in shown.text  # the flash is worded when it is set
    assert "民生必需品价格指数" in shown.text
    assert f'<tr data-sku="{rice.id}">' in shown.text

    inspector = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    csrf = await form_login(inspector, w.inspector.phone)
    await inspector.put(
        "/api/v1/accounts/me/active-organisation",
        json={"organisation_id": w.regulator.id},
        headers={"X-CSRF-Token": csrf},
    )
    viewed = await inspector.get("/regulator/charts")
    assert viewed.status_code == 200
    assert 'action="/regulator/charts/basket"' not in viewed.text
    denied = await inspector.post(
        "/regulator/charts/basket", data=form | {"csrf_token": csrf, "items": f"{rice.id} 9"}
    )
    assert denied.status_code == 403
    for c in (page, inspector):
        await c.aclose()

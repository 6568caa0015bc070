"""The group-buying pages after the order: the resident's order page (code, QR, pickup
point, timeline, refunds), the leader's pickup desk, sorting list, uncollected orders and
earnings, the merchant's campaign pages, and the operators' oversight. Every form is tried
with bad input (never a 500) and every page with someone else's ids."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.accounts.models import Organisation, User
from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy.models import Campaign, Order
from tests.factories import login, make_org, make_user
from tests.groupbuy.helpers import a_shop, count, listed_sku
from tests.groupbuy.test_fulfilment import (
    API,
    a_world,
    buy,
    order_of,
    past_cutoff,
    the_whole_loop,
)


@asynccontextmanager
async def browser(
    app: FastAPI, user: User, organisation: Organisation | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A logged-in client of its own (cookies, CSRF token for forms), like one person's
    browser."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await login(c, user, organisation=organisation)
        del c.headers["X-CSRF-Token"]  # pages post the token in the form
        yield c, c.cookies.get(CSRF_COOKIE) or ""


async def test_the_resident_sees_code_qr_point_and_progress_only_on_their_own_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    code = (await order_of(app, mine)).pickup_code
    assert code is not None
    async with browser(app, buyer.user) as (me, _csrf):
        listing = await me.get("/groupbuy/orders")
        assert f'href="/groupbuy/orders/{mine}"' in listing.text
        assert "Ready for pickup" in listing.text
        page = await me.get(f"/groupbuy/orders/{mine}")
        assert page.status_code == 200
        assert f"data-pickup-code>{code}<" in page.text
        assert "<svg" in page.text  # the QR code, inline
        assert "3号楼门卫室" in page.text
        assert "张江路1号3号楼" in page.text
        assert "08:00-20:00" in page.text
        assert "Collect by" in page.text
        assert "Arrived at the pickup point" in page.text
        for bad in ("abc", "0", "-1", "99999999999999999999999"):
            assert (await me.get(f"/groupbuy/orders/{bad}")).status_code in (404, 422)
    (nosy,) = [await make_user(session, name="邻居")]
    async with browser(app, nosy) as (other, _csrf):
        assert (await other.get(f"/groupbuy/orders/{mine}")).status_code == 404
    # The merchant reads its orders in its own pages, not the resident's.
    async with browser(app, world.shop.owner, world.shop.organisation) as (shop, _csrf):
        assert (await shop.get(f"/groupbuy/orders/{mine}")).status_code == 404
    assert (await client.get(f"/groupbuy/orders/{mine}")).status_code == 401


async def test_a_failed_group_is_shown_refunded_with_its_reason(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, threshold=3)
    rice, _oil = world.items
    from tests.groupbuy.helpers import residents

    (buyer,) = await residents(session, 1)
    mine = await buy(client, settings, buyer, world, [(rice, 1)], world.points[0])
    await past_cutoff(app, frozen_clock)
    async with browser(app, buyer.user) as (me, _csrf):
        page = await me.get(f"/groupbuy/orders/{mine}")
    assert page.status_code == 200
    assert "Cancelled" in page.text
    assert "The group did not form at your pickup point" in page.text
    assert "data-refunded>¥15.00<" in page.text
    assert "data-pickup-code" not in page.text


async def test_the_leader_receives_verifies_and_hands_over_at_the_desk(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, threshold=1)
    rice, oil = world.items
    busy, quiet = world.points
    from tests.groupbuy.helpers import residents

    (buyer,) = await residents(session, 1)
    mine = await buy(client, settings, buyer, world, [(rice, 3), (oil, 1)], busy)
    await past_cutoff(app, frozen_clock)
    shipped = await client.post(
        f"{API}/campaigns/{world.campaign['id']}/ship", headers=world.shop.headers
    )
    (delivery,) = shipped.json()
    code = (await order_of(app, mine)).pickup_code
    assert code is not None

    async with browser(app, quiet.leader.user) as (stranger, csrf):
        arrive = await stranger.post(
            f"/leader/deliveries/{delivery['id']}/arrive", data={"csrf_token": csrf}
        )
        assert arrive.status_code == 404  # not a delivery to a point they run
        assert (await order_of(app, mine)).status == "confirmed"
        assert (await stranger.get(f"/leader/pickup/{busy.id}/sorting")).status_code == 404
        found = await stranger.post(
            "/leader/pickup/find", data={"csrf_token": csrf, "point_id": busy.id, "code": code}
        )
        assert found.status_code == 404

    async with browser(app, busy.leader.user) as (leader, csrf):
        home = await leader.get("/leader")
        assert 'href="/leader/pickup?point=' in home.text
        desk = await leader.get("/leader/pickup")
        assert desk.status_code == 200
        assert 'href="/leader/pickup"' in desk.text  # the menu knows a leader
        assert f'action="/leader/deliveries/{delivery["id"]}/arrive"' in desk.text
        for bad in ("0", "abc", "99999999999999999999999"):
            response = await leader.post(
                f"/leader/deliveries/{bad}/arrive", data={"csrf_token": csrf}
            )
            assert response.status_code == 422
        assert (
            await leader.post("/leader/deliveries/999999/arrive", data={"csrf_token": csrf})
        ).status_code == 404
        no_csrf = await leader.post(f"/leader/deliveries/{delivery['id']}/arrive")
        assert no_csrf.status_code == 403
        arrived = await leader.post(
            f"/leader/deliveries/{delivery['id']}/arrive", data={"csrf_token": csrf}
        )
        assert arrived.status_code == 303
        assert (await order_of(app, mine)).status == "ready_for_pickup"
        desk = await leader.get(f"/leader/pickup?point={busy.id}")
        assert "1 orders waiting for pickup" in desk.text

        for bad_point, bad_code, status in (
            (busy.id, "12ab56", 422),
            (busy.id, "", 422),
            (busy.id, "1" * 5000, 422),
            ("x", code, 422),
            ("-1", code, 422),
            ("99999999999999999999999", code, 422),
            (quiet.id, code, 404),
            (busy.id, "000000" if code != "000000" else "111111", 404),
        ):
            response = await leader.post(
                "/leader/pickup/find",
                data={"csrf_token": csrf, "point_id": str(bad_point), "code": bad_code},
            )
            assert response.status_code == status, (bad_point, bad_code, response.text[:300])
        wrong = await leader.post(
            "/leader/pickup/find", data={"csrf_token": csrf, "point_id": busy.id, "code": "12ab56"}
        )
        assert "Enter the six digits of the pickup code." in wrong.text

        found = await leader.post(
            "/leader/pickup/find",
            data={"csrf_token": csrf, "point_id": busy.id, "code": f"{code[:3]} {code[3:]}"},
        )
        assert found.status_code == 200
        lines = [int(x) for x in re.findall(r'name="qty_(\d+)"', found.text)]
        assert len(lines) == 2
        rice_line, oil_line = lines
        assert f'name="qty_{rice_line}" inputmode="numeric" size="3" value="3"' in found.text

        handover = {"csrf_token": csrf, "point_id": str(busy.id), "code": code}
        for quantities in (
            {rice_line: "-1"},
            {rice_line: "abc"},
            {rice_line: "99999999999999999999999"},
            {rice_line: "4"},
            {rice_line: "0", oil_line: "0"},
            {999_999: "1"},
            {"x": "1"},
        ):
            response = await leader.post(
                "/leader/pickup/handover",
                data=handover | {f"qty_{k}": v for k, v in quantities.items()},
            )
            assert response.status_code == 422, (quantities, response.text[:300])
        too_many = await leader.post(
            "/leader/pickup/handover", data=handover | {f"qty_{rice_line}": "4"}
        )
        assert "More than is left to collect." in too_many.text

        partial = await leader.post(
            "/leader/pickup/handover",
            data=handover | {f"qty_{rice_line}": "2", f"qty_{oil_line}": "0"},
        )
        assert partial.status_code == 303
        assert (await order_of(app, mine)).status == "partially_picked_up"
        rest = await leader.post(
            "/leader/pickup/handover",
            data=handover | {"how": "scanned", f"qty_{rice_line}": "1", f"qty_{oil_line}": "1"},
        )
        assert rest.status_code == 303
        assert (await order_of(app, mine)).status == "picked_up"

        earnings = await leader.get("/leader/earnings")
        # 10 % of 3 x ¥15.00 + 1 x ¥45.00
        assert "data-accrued>¥9.00<" in earnings.text
        assert "data-net>¥9.00<" in earnings.text
        pickup_day = world.campaign["pickup_date"]
        sorting = await leader.get(f"/leader/pickup/{busy.id}/sorting?date={pickup_day}")
        assert sorting.status_code == 200
        assert code not in sorting.text  # the code is the resident's proof: never the leader's
        assert f"sorting-list.csv?pickup_date={pickup_day}" in sorting.text
        assert (await leader.get(f"/leader/pickup/{busy.id}/sorting?date=junk")).status_code == 422
        csv = await leader.get(
            f"{API}/pickup-points/{busy.id}/sorting-list.csv?pickup_date={pickup_day}"
        )
        assert csv.status_code == 200
        assert code not in csv.text
        assert (await leader.get("/leader/uncollected")).status_code == 200

    async with browser(app, buyer.user) as (me, _csrf):
        page = await me.get(f"/groupbuy/orders/{mine}")
        assert 'data-status="picked_up"' in page.text
        assert "data-pickup-code" not in page.text  # the code is spent
        assert 'href="/leader/pickup"' not in page.text  # residents see no desk
        assert (await me.get(f"/leader/pickup/{busy.id}/sorting")).status_code == 404
        desk = await me.get("/leader/pickup")
        assert "You do not run a pickup point yet." in desk.text


def _campaign_form(csrf: str, sku: int, **overrides: str) -> dict[str, str]:
    # The frozen clock is 2026-11-26 10:00 in Shanghai.
    form = {
        "csrf_token": csrf,
        "title": "周五鲜果团",
        "opens_at": "2026-11-26T09:00",
        "cutoff_at": "2026-11-27T20:00",
        "pickup_date": "2026-11-28",
        "sku_0": str(sku),
        "price_0": "12.50",
        "limit_0": "3",
        "stock_0": "40",
        "min_group_0": "2",
    }
    form.update(overrides)
    return form


async def test_the_merchant_creates_and_publishes_a_campaign_from_the_form(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    frozen_clock: FrozenClock,
) -> None:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop, stock=100, price_fen=1990)
    other = await a_shop(client, session, name="别家商店")
    foreign_sku = await listed_sku(client, other, stock=10, code="THEIRS")
    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        page = await merchant.get("/merchant/groupbuy")
        assert page.status_code == 200
        assert 'href="/merchant/groupbuy"' in page.text  # in the menu
        assert f'<option value="{sku}"' in page.text
        assert f'<option value="{foreign_sku}"' not in page.text
        for overrides, field_message in (
            ({"price_0": "abc"}, "Enter an amount in yuan, e.g. 12.50."),
            ({"price_0": "1e1000000"}, "Enter an amount in yuan, e.g. 12.50."),
            ({"price_0": "-3"}, None),
            ({"price_0": "12.505"}, "Enter an amount in yuan, e.g. 12.50."),
            ({"price_0": "25.00"}, "The group price may not be above the SKU's price."),
            ({"stock_0": "-5"}, None),
            ({"stock_0": "99999999999999999999999"}, None),
            ({"limit_0": "0"}, None),
            ({"min_group_0": "two"}, None),
            ({"sku_0": str(foreign_sku)}, "Choose a SKU of your own listed products."),
            ({"sku_0": "junk"}, None),
            ({"sku_0": "", "price_0": "", "limit_0": "", "stock_0": "", "min_group_0": ""}, None),
            ({"opens_at": "yesterday"}, "Enter a date and time."),
            ({"cutoff_at": "2026-11-26T08:00"}, "The cutoff must be after the opening time."),
            ({"pickup_date": "2026-11-27"}, "Pickup must be on a day after the cutoff."),
            ({"pickup_date": "99999-01-01"}, "Enter a date."),
            ({"opens_at": "9999-12-31T23:59"}, None),
            ({"opens_at": "0001-01-01T00:00"}, None),
            ({"title": ""}, None),
            ({"title": "x" * 500}, None),
        ):
            response = await merchant.post(
                "/merchant/groupbuy", data=_campaign_form(csrf, sku, **overrides)
            )
            assert response.status_code == 422, (overrides, response.text[:500])
            assert 'class="field-error"' in response.text, overrides
            if field_message:
                assert field_message in html.unescape(response.text), overrides
        assert await count(app, Campaign) == 0
        kept = await merchant.post(
            "/merchant/groupbuy", data=_campaign_form(csrf, sku, price_0="abc")
        )
        assert 'value="周五鲜果团"' in kept.text  # what was typed stays in the form

        created = await merchant.post("/merchant/groupbuy", data=_campaign_form(csrf, sku))
        assert created.status_code == 303
        detail_url = created.headers["location"]
        campaign_id = int(detail_url.rsplit("/", 1)[1])
        detail = await merchant.get(detail_url)
        assert 'data-campaign-status="draft"' in detail.text
        assert "¥12.50" in detail.text
        async with app.state.sessionmaker() as s:
            campaign = await s.get(Campaign, campaign_id)
        assert campaign is not None
        # Beijing wall time, stored in UTC.
        assert campaign.cutoff_at.isoformat() == "2026-11-27T12:00:00+00:00"
        published = await merchant.post(
            f"/merchant/groupbuy/{campaign_id}/publish", data={"csrf_token": csrf}
        )
        assert published.status_code == 303
        detail = await merchant.get(detail_url)
        assert 'data-campaign-status="published"' in detail.text
        assert "周五鲜果团" in (await client.get("/groupbuy")).text

    async with browser(app, other.owner, other.organisation) as (stranger, csrf):
        assert (await stranger.get(f"/merchant/groupbuy/{campaign_id}")).status_code == 404
        assert (
            await stranger.post(
                f"/merchant/groupbuy/{campaign_id}/publish", data={"csrf_token": csrf}
            )
        ).status_code == 404
        assert (
            await stranger.get(f"/merchant/groupbuy/{campaign_id}/procurement")
        ).status_code == 404
    resident = await make_user(session, name="居民")
    async with browser(app, resident) as (me, _csrf):
        assert (await me.get("/merchant/groupbuy")).status_code == 403
        assert (await me.get(f"/merchant/groupbuy/{campaign_id}")).status_code == 403


async def test_the_merchant_follows_the_cutoff_ships_and_refunds_collected_goods(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, threshold=2)
    rice, oil = world.items
    busy, quiet = world.points
    from tests.groupbuy.helpers import residents

    people = await residents(session, 3)
    mine = await buy(client, settings, people[0], world, [(rice, 2), (oil, 1)], busy)
    await buy(client, settings, people[1], world, [(rice, 1)], busy)
    await buy(client, settings, people[2], world, [(rice, 1)], quiet)  # fails at quiet
    await past_cutoff(app, frozen_clock)
    campaign_id = world.campaign["id"]
    other = await a_shop(client, session, name="别家商店")
    async with browser(app, world.shop.owner, world.shop.organisation) as (merchant, csrf):
        detail = await merchant.get(f"/merchant/groupbuy/{campaign_id}")
        assert detail.status_code == 200
        assert "Groups at the cut-off" in detail.text
        assert "Formed" in detail.text
        assert "Failed: refunded" in detail.text
        delivery = int(re.findall(r'data-delivery="(\d+)"', detail.text)[0])
        assert f"/merchant/groupbuy/{campaign_id}/sorting/{busy.id}" in detail.text
        procurement = await merchant.get(f"/merchant/groupbuy/{campaign_id}/procurement")
        assert procurement.status_code == 200
        assert f"/api/v1/groupbuy/campaigns/{campaign_id}/procurement.csv" in procurement.text
        assert "3号楼门卫室" in procurement.text
        sorting = await merchant.get(f"/merchant/groupbuy/{campaign_id}/sorting/{busy.id}")
        assert sorting.status_code == 200
        assert f"campaign_id={campaign_id}" in sorting.text
        live_code = (await order_of(app, mine)).pickup_code
        assert live_code is not None
        assert live_code not in sorting.text  # merchants never see pickup codes

        async with browser(app, other.owner, other.organisation) as (stranger, other_csrf):
            shipped_by_other = await stranger.post(
                f"/merchant/groupbuy/{campaign_id}/deliveries/{delivery}/ship",
                data={"csrf_token": other_csrf},
            )
            assert shipped_by_other.status_code == 404
            their_campaign = await stranger.post(
                f"/merchant/groupbuy/{campaign_id}/ship-all", data={"csrf_token": other_csrf}
            )
            assert their_campaign.status_code == 404
            assert (
                await stranger.get(f"/merchant/groupbuy/{campaign_id}/sorting/{busy.id}")
            ).status_code == 404

        shipped = await merchant.post(
            f"/merchant/groupbuy/{campaign_id}/deliveries/{delivery}/ship",
            data={"csrf_token": csrf},
        )
        assert shipped.status_code == 303
        detail = await merchant.get(f"/merchant/groupbuy/{campaign_id}")
        assert 'data-status="shipped"' in detail.text

    # The leader receives it and hands everything over (through the API: tested above).
    await client.post(f"{API}/deliveries/{delivery}/arrive", headers=busy.leader.headers)
    code = (await order_of(app, mine)).pickup_code
    await client.post(
        f"{API}/pickup-points/{busy.id}/pickups", json={"code": code}, headers=busy.leader.headers
    )
    async with browser(app, world.shop.owner, world.shop.organisation) as (merchant, csrf):
        detail = await merchant.get(f"/merchant/groupbuy/{campaign_id}")
        options = re.findall(rf'<option value="({mine}:\d+)"', detail.text)
        assert len(options) == 1  # the oil's group failed: nothing of it was collected
        (rice_option,) = options
        for form, status in (
            ({"line": rice_option, "quantity": "3", "reason": "漏油"}, 422),
            ({"line": rice_option, "quantity": "-1", "reason": "漏油"}, 422),
            ({"line": rice_option, "quantity": "abc", "reason": "漏油"}, 422),
            ({"line": rice_option, "quantity": "99999999999999999999", "reason": "漏油"}, 422),
            ({"line": rice_option, "quantity": "1", "reason": ""}, 422),
            ({"line": rice_option, "quantity": "1", "reason": "x" * 300}, 422),
            ({"line": "junk", "quantity": "1", "reason": "漏油"}, 422),
            ({"line": f"{mine}:999999", "quantity": "1", "reason": "漏油"}, 404),
        ):
            response = await merchant.post(
                f"/merchant/groupbuy/{campaign_id}/refund", data={"csrf_token": csrf, **form}
            )
            assert response.status_code == status, (form, response.text[:300])
        refunded = await merchant.post(
            f"/merchant/groupbuy/{campaign_id}/refund",
            data={"csrf_token": csrf, "line": rice_option, "quantity": "1", "reason": "米袋破了"},
        )
        assert refunded.status_code == 303
    order = await order_of(app, mine)
    assert isinstance(order, Order)
    assert order.refunded_fen == 4500 + 1500  # the failed oil group, then one bag of rice
    async with browser(app, people[0].user) as (me, _csrf):
        page = await me.get(f"/groupbuy/orders/{mine}")
        assert "Refunded by the merchant: 米袋破了" in page.text
        assert "The group did not form at your pickup point" in page.text
        assert "data-refunded>¥60.00<" in page.text
        reasons = re.findall(r'data-refund-reason="([a-z_]+)"', page.text)
        assert reasons == ["group_failed", "merchant_decision"]


async def test_operators_oversee_every_campaign_and_residents_may_not(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, threshold=5)
    rice, _oil = world.items
    from tests.groupbuy.helpers import residents

    (buyer,) = await residents(session, 1)
    await buy(client, settings, buyer, world, [(rice, 1)], world.points[0])
    await past_cutoff(app, frozen_clock)
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    async with browser(app, operator, platform) as (ops, _csrf):
        page = await ops.get("/ops/groupbuy")
        assert page.status_code == 200
        assert 'href="/ops/groupbuy"' in page.text
        row = re.search(
            rf'data-campaign="{world.campaign["id"]}">(.*?)</tr>', page.text, flags=re.S
        )
        assert row is not None
        assert "邻里鲜果" in row.group(1)
        assert "Closed" in row.group(1)
        assert "¥15.00" in row.group(1)  # refunded: the group failed
        assert (await ops.get("/ops/groupbuy?status=draft")).text.count("data-campaign=") == 0
        assert (await ops.get("/ops/groupbuy?status=closed")).text.count("data-campaign=") == 1
        assert (await ops.get("/ops/groupbuy?status=%00junk")).status_code == 200
        assert (await ops.get("/ops/groupbuy?status=" + "x" * 100)).status_code == 422
    async with browser(app, buyer.user) as (me, _csrf):
        assert (await me.get("/ops/groupbuy")).status_code == 403
    assert (await client.get("/ops/groupbuy")).status_code == 401


async def test_the_leader_hands_over_without_a_code_from_the_sorting_list_with_a_reason(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy, quiet = world.points
    action = f"/leader/pickup/{busy.id}/orders/{mine}/without-code"
    async with browser(app, quiet.leader.user) as (stranger, csrf):
        elsewhere = await stranger.post(action, data={"csrf_token": csrf, "reason": "没带手机"})
        assert elsewhere.status_code == 404
    async with browser(app, busy.leader.user) as (leader, csrf):
        day = world.campaign["pickup_date"]
        sorting = await leader.get(f"/leader/pickup/{busy.id}/sorting?date={day}")
        assert f'action="{action}"' in sorting.text
        assert (await leader.post(action, data={"reason": "没带手机"})).status_code == 403
        blank = await leader.post(action, data={"csrf_token": csrf, "reason": " "})
        assert blank.status_code == 422
        assert "Say why the goods are handed over without the code." in blank.text
        assert (await order_of(app, mine)).status == "ready_for_pickup"
        done = await leader.post(action, data={"csrf_token": csrf, "reason": "没带手机"})
        assert done.status_code == 303
        assert (await order_of(app, mine)).status == "picked_up"
        after = await leader.get(f"/leader/pickup/{busy.id}/sorting?date={day}")
        assert f'action="{action}"' not in after.text
    await app.state.dispatcher.run_once()
    async with browser(app, buyer.user) as (me, _csrf):
        inbox = await me.get("/inbox")
        assert "Handed over without your pickup code" in inbox.text
        assert "没带手机" in inbox.text

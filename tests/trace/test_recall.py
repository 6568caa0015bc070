"""Recalls: the named batch and its downstream batches (through a transformation and an
aggregation) are frozen; exactly their buyers are told and refunded; the public trace page
shows the journey and the recall and nothing about the buyer; scoping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.audit.models import AuditEntry
from linli.authz import Actor, OrganisationRef, UserRef
from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy.models import CANCELLED, Order
from linli.groupbuy.states import CancelReason
from linli.notifications.models import Notification
from linli.payments.models import PaymentIntent, PaymentRefund
from linli.payments.reasons import RefundReason
from linli.rules import workday_overrides, workdays
from linli.rules.schemas import OverrideIn
from linli.rules.workdays import DayKind
from linli.trace import recall
from linli.trace.models import TraceBatch
from linli.trace.safety_models import TraceLineCode
from tests.factories import login, make_org, make_token, make_user
from tests.groupbuy.helpers import (
    Resident,
    Shop,
    a_pickup_point,
    a_shop,
    bearer,
    item,
    order,
    pay,
    published_campaign,
    residents,
)
from tests.trace.safety_helpers import (
    TRACE,
    a_batch,
    events_named,
    lot_class,
    product_sku,
    record,
    status_of,
)


@dataclass
class RecallWorld:
    shop: Shop
    flour: TraceBatch  # A: recalled by name
    bread: TraceBatch  # B: made from A (transformation)
    box: TraceBatch  # C: B packed into it (aggregation)
    other_flour: TraceBatch  # D: same SKU as A, another lot: untouched
    buyers: dict[str, Resident]
    orders: dict[str, int]
    items: dict[str, int]
    campaigns: dict[str, int]
    point_id: int


async def a_recall_world(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> RecallWorld:
    shop = await a_shop(client, session)
    flour_sku = await product_sku(client, shop, name="高筋面粉")
    bread_sku = await product_sku(client, shop, name="全麦面包")
    box_sku = await product_sku(client, shop, name="早餐礼盒")
    flour = await a_batch(app, shop, flour_sku, "F2611")
    other = await a_batch(app, shop, flour_sku, "F2612")
    bread = await a_batch(app, shop, bread_sku, "B2611")
    box = await a_batch(app, shop, box_sku, "G2611")
    now = clock.now().isoformat()
    await record(
        app,
        shop.organisation.id,
        {
            "type": "ObjectEvent",
            "eventTime": now,
            "epcList": [],
            "quantityList": [{"epcClass": lot_class(flour)}],
            "action": "ADD",
            "bizStep": "commissioning",
            "readPoint": {"id": "urn:epc:id:sgln:0690123.00001.0"},
        },
    )
    await record(
        app,
        shop.organisation.id,
        {
            "type": "TransformationEvent",
            "eventTime": now,
            "inputQuantityList": [{"epcClass": lot_class(flour), "quantity": 50, "uom": "KGM"}],
            "outputQuantityList": [{"epcClass": lot_class(bread), "quantity": 200}],
            "bizStep": "creating_class_instance",
        },
    )
    await record(
        app,
        shop.organisation.id,
        {
            "type": "AggregationEvent",
            "eventTime": now,
            "parentID": lot_class(box),
            "childEPCs": [],
            "childQuantityList": [{"epcClass": lot_class(bread), "quantity": 20}],
            "action": "ADD",
            "bizStep": "packing",
        },
    )
    first = await published_campaign(
        client,
        shop,
        item(flour_sku, batch_id=flour.id, min_group_qty=1),
        item(bread_sku, batch_id=bread.id, min_group_qty=1),
        item(box_sku, batch_id=box.id, min_group_qty=1),
    )
    second = await published_campaign(client, shop, item(flour_sku, batch_id=other.id))
    items = {
        "flour": first["items"][0]["id"],
        "bread": first["items"][1]["id"],
        "box": first["items"][2]["id"],
        "other": second["items"][0]["id"],
    }
    assert first["items"][0]["batch_id"] == flour.id
    point_id = await a_pickup_point(session)
    people = await residents(session, 5)
    buyers = dict(zip(["flour", "bread", "box", "other", "nobody"], people, strict=True))
    orders: dict[str, int] = {}
    for name, campaign in (
        ("flour", first),
        ("bread", first),
        ("box", first),
        ("other", second),
    ):
        placed = await order(
            client, buyers[name], campaign["id"], [(items[name], 2)], point_id=point_id
        )
        assert placed.status_code == 201, placed.text
        orders[name] = placed.json()["order"]["id"]
        if name != "box":  # the box's buyer has not paid yet
            await pay(client, settings, placed.json()["payment"])
    await app.state.dispatcher.run_once()  # payments applied, trace codes given
    await app.state.dispatcher.run_once()
    return RecallWorld(
        shop,
        flour,
        bread,
        box,
        other,
        buyers,
        orders,
        items,
        {"first": first["id"], "second": second["id"]},
        point_id,
    )


async def test_recall_reaches_downstream_buyers_and_nobody_else(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await a_recall_world(app, client, session, settings)
    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 1, "reason": "沙门氏菌检出", "batch_ids": [world.flour.id]},
        headers=world.shop.headers,
    )
    assert opened.status_code == 201, opened.text
    body = opened.json()
    via = {b["batch_id"]: b["via"] for b in body["batches"]}
    assert via == {
        world.flour.id: "named",
        world.bread.id: "transformation",
        world.box.id: "aggregation",
    }
    assert body["rule"] == "recall.levels@1"
    for batch in (world.flour, world.bread, world.box):
        assert await status_of(app, batch.id) == "recalled"
    assert await status_of(app, world.other_flour.id) == "active"

    await app.state.dispatcher.run_once()  # buyers are told through BuyerRecalled events
    async with app.state.sessionmaker() as s:
        told = {n.user_id for n in await s.scalars(select(Notification)) if n.kind == "recall"}
        refunds = {
            int(intent.reference): refund.amount_fen
            for refund, intent in (
                await s.execute(
                    select(PaymentRefund, PaymentIntent).join(
                        PaymentIntent, PaymentIntent.id == PaymentRefund.intent_id
                    )
                )
            ).all()
        }
        box_order = await s.get(Order, world.orders["box"])
        links = [n.link for n in await s.scalars(select(Notification)) if n.kind == "recall"]
        flour_notice = await s.scalar(
            select(Notification).where(
                Notification.kind == "recall", Notification.user_id == world.buyers["flour"].user.id
            )
        )
    b = world.buyers
    assert told == {b["flour"].user.id, b["bread"].user.id, b["box"].user.id}
    assert refunds == {world.orders["flour"]: 3000, world.orders["bread"]: 3000}
    assert box_order is not None
    assert box_order.status == CANCELLED
    assert all(link and link.startswith("/t/L") for link in links)
    assert flour_notice is not None
    assert flour_notice.params == {
        "product": "高筋面粉",
        "order_id": world.orders["flour"],
        "level": 1,
        "reason": "沙门氏菌检出",
    }

    progress = body["progress"]
    assert progress["buyers"] == 3
    assert progress["notified"] == 3
    assert progress["refunded_fen"] == 6000
    assert progress["cancelled"] == 1
    assert len(await events_named(app, "trace.BatchRecalled")) == 1

    # Recalled stock cannot be bought; the unrelated lot still can.
    refused = await order(
        client,
        b["nobody"],
        world.campaigns["first"],
        [(world.items["flour"], 1)],
        point_id=world.point_id,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "batch_recalled"
    fine = await order(
        client,
        b["nobody"],
        world.campaigns["second"],
        [(world.items["other"], 1)],
        point_id=world.point_id,
    )
    assert fine.status_code == 201, fine.text

    closed = await client.post(f"{TRACE}/recalls/{body['id']}/close", headers=world.shop.headers)
    assert closed.status_code == 200, closed.text
    report = closed.json()["report"]
    assert report["refunded_fen"] == 6000
    assert report["downstream_batches"] == 2
    assert report["completed_on_time"] is True


async def test_trace_page_shows_journey_and_recall_but_not_the_buyer(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await a_recall_world(app, client, session, settings)
    async with app.state.sessionmaker() as s:
        codes = list(await s.scalars(select(TraceLineCode)))
    # Paid lines got their codes from OrderPaid: flour, bread, other (box: unpaid).
    assert len(codes) == 3
    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 2, "reason": "Undeclared allergen", "batch_ids": [world.flour.id]},
        headers=world.shop.headers,
    )
    assert opened.status_code == 201, opened.text
    await app.state.dispatcher.run_once()
    buyer = world.buyers["bread"]
    async with app.state.sessionmaker() as s:
        link = await s.scalar(
            select(Notification.link)
            .where(Notification.user_id == buyer.user.id)
            .where(Notification.kind == "recall")
        )
    assert link is not None
    # The resident's own order page links to the same trace page.
    from tests.factories import login

    await login(client, buyer.user)
    order_page = await client.get(f"/groupbuy/orders/{world.orders['bread']}")
    assert order_page.status_code == 200
    assert f'href="{link}"' in order_page.text
    client.cookies.clear()
    page = await client.get(link)  # no login
    assert page.status_code == 200
    html = page.text
    assert "全麦面包" in html
    assert "Recall notice" in html
    assert "Undeclared allergen" in html
    assert "Processed into new products" in html  # the bread was made from the flour
    assert "Packed" in html
    assert 'data-testid="pickup-point"' in html
    assert "Verified" in html
    assert buyer.user.display_name not in html
    assert buyer.user.phone not in html
    assert f"#{world.orders['bread']}" not in html
    qr = await client.get(f"{link}/qr.svg")
    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    batch_page = await client.get(f"/t/{world.flour.code}")
    assert batch_page.status_code == 200
    assert "Produced" in batch_page.text
    assert (await client.get("/t/LNOSUCHCODE")).status_code == 404
    zh = await client.get(link, headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200


async def test_scoping_of_batches_and_recalls(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    sku = await product_sku(client, shop)
    batch = await a_batch(app, shop, sku, "X1")
    rival = await a_shop(client, session, name="隔壁超市")
    for method, path, body in (
        ("GET", f"{TRACE}/batches/{batch.id}/safety", None),
        (
            "POST",
            f"{TRACE}/batches/{batch.id}/hold-decision",
            {"decision": "release", "reason": "x"},
        ),
        ("POST", f"{TRACE}/recalls", {"level": 3, "reason": "x", "batch_ids": [batch.id]}),
    ):
        response = await client.request(method, path, json=body, headers=rival.headers)
        assert response.status_code == 404, (path, response.text)
    readings = await client.post(
        f"{TRACE}/readings",
        json={
            "readings": [
                {
                    "batch_code": batch.code,
                    "sensor_id": "s1",
                    "time": clock.now().isoformat(),
                    "temperature_c": 3,
                }
            ]
        },
        headers=rival.headers,
    )
    assert readings.status_code == 404
    (resident,) = await residents(session, 1)
    refused = await client.post(
        f"{TRACE}/recalls",
        json={"level": 3, "reason": "x", "batch_ids": [batch.id]},
        headers=resident.headers,
    )
    assert refused.status_code == 403
    # Pages take no tokens at all.
    assert (await client.get("/merchant/recalls", headers=resident.headers)).status_code == 401
    # A regulator's supervisor may open a recall of a merchant registered in its jurisdiction
    # (here: the province); one elsewhere sees neither the batch nor the recall.
    registered = await session.get(Organisation, shop.organisation.id)
    assert registered is not None
    registered.province_code, registered.city_code = "310000", "310100"
    await session.commit()
    outsider = await make_user(session, name="外省市监局")
    far = await make_org(
        session,
        "regulator",
        owner=outsider,
        name="杭州市场监管局",
        province_code="330000",
        city_code="330100",
    )
    far_headers = bearer(await make_token(session, outsider, organisation=far))
    elsewhere = await client.post(
        f"{TRACE}/recalls",
        json={"level": 3, "reason": "抽检不合格", "batch_ids": [batch.id], "refund": "none"},
        headers=far_headers,
    )
    assert elsewhere.status_code == 404, elsewhere.text
    officer = await make_user(session, name="市监局")
    regulator = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    headers = bearer(await make_token(session, officer, organisation=regulator))
    ordered = await client.post(
        f"{TRACE}/recalls",
        json={"level": 3, "reason": "抽检不合格", "batch_ids": [batch.id], "refund": "none"},
        headers=headers,
    )
    assert ordered.status_code == 201, ordered.text
    await login(client, officer, organisation=regulator)  # pages take no tokens
    assert (await client.get("/regulator/recalls")).status_code == 200
    mine = await client.get(f"{TRACE}/recalls", headers=shop.headers)
    assert [r["id"] for r in mine.json()] == [ordered.json()["id"]]
    assert (await client.get(f"{TRACE}/recalls", headers=rival.headers)).json() == []
    assert (await client.get(f"{TRACE}/recalls", headers=far_headers)).json() == []


def test_working_days_skip_weekends() -> None:
    calendar = workdays.WorkingCalendar(workdays.CALENDAR_RULE, 1)
    assert calendar.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Fri -> Mon
    assert calendar.add_working_days(date(2026, 11, 26), 10) == date(2026, 12, 10)


def test_the_completion_deadline_skips_the_spring_festival() -> None:
    """Level 1, opened on Tuesday 10 February 2026: 10 working days are 11-14 February (the
    14th an adjusted working Saturday), 24-28 February (the 28th one too) and Monday 2 March.
    Monday to Friday alone said 24 February, in the middle of the first week back."""
    calendar = workdays.WorkingCalendar(workdays.CALENDAR_RULE, 1)
    values = {"levels": {"1": {"start_within_hours": 24, "complete_within_working_days": 10}}}
    opened = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)
    start_by, complete_by = recall.deadlines(values, 1, opened, opened, calendar)
    assert start_by == opened + timedelta(hours=24)
    assert complete_by == datetime(2026, 3, 2, 23, 59, 59, tzinfo=clock.LOCAL)


async def test_an_opened_recall_counts_the_holidays_in_force(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """2027 is not in the package: Monday to Friday plus the operator's overrides. Opened on
    Thursday 24 December 2026 at level 1, with 1 January 2027 entered as a holiday, the tenth
    working day is Friday 8 January (7 January without the override)."""
    shop = await a_shop(client, session)
    first = await a_batch(app, shop, await product_sku(client, shop), "H2612")
    second = await a_batch(app, shop, await product_sku(client, shop, name="大米"), "H2613")
    frozen_clock.set(datetime(2026, 12, 24, 1, 0, tzinfo=UTC))
    body = {"level": 1, "reason": "抽检不合格", "refund": "none"}
    plain = await client.post(
        f"{TRACE}/recalls", json={**body, "batch_ids": [first.id]}, headers=shop.headers
    )
    assert plain.status_code == 201, plain.text
    assert datetime.fromisoformat(plain.json()["complete_by"]) == datetime(
        2027, 1, 7, 23, 59, 59, tzinfo=clock.LOCAL
    )
    async with app.state.sessionmaker() as s:
        operator = await make_user(s, name="运营")
        platform = await make_org(s, "platform", owner=operator, role="operator")
        actor = Actor(
            user=UserRef.of(operator),
            organisation=OrganisationRef.of(platform),
            roles=frozenset({"operator"}),
        )
        await workday_overrides.set_override(
            s,
            actor,
            OverrideIn(day=date(2027, 1, 1), kind=DayKind.HOLIDAY, reason="元旦", version=1),
        )
        await s.commit()
    held = await client.post(
        f"{TRACE}/recalls", json={**body, "batch_ids": [second.id]}, headers=shop.headers
    )
    assert held.status_code == 201, held.text
    assert datetime.fromisoformat(held.json()["complete_by"]) == datetime(
        2027, 1, 8, 23, 59, 59, tzinfo=clock.LOCAL
    )
    entry = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "trace.recall_opened",
            AuditEntry.target_id == str(held.json()["id"]),
        )
    )
    assert entry is not None
    assert entry.details["calendar"] == "calendar.working_days@2+chinese-calendar==1.11.0"


async def test_campaign_batch_must_be_own_active_batch_of_the_sku(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    sku = await product_sku(client, shop)
    other_sku = await product_sku(client, shop, name="大米")
    batch = await a_batch(app, shop, other_sku, "R1")
    rival = await a_shop(client, session, name="隔壁超市")
    rival_sku = await product_sku(client, rival)
    rival_batch = await a_batch(app, rival, rival_sku, "R2")
    from tests.groupbuy.helpers import CAMPAIGNS, campaign_body

    for batch_id in (batch.id, rival_batch.id):
        response = await client.post(
            CAMPAIGNS, json=campaign_body(item(sku, batch_id=batch_id)), headers=shop.headers
        )
        assert response.status_code == 422, response.text
        assert "items.0.batch_id" in response.json()["error"]["fields"]


async def test_recalling_collected_goods_reverses_settlement_and_commission(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    from linli.groupbuy.models import Commission, Order
    from tests.groupbuy.test_fulfilment import a_led_point, past_cutoff
    from tests.payments.helpers import balances

    shop = await a_shop(client, session)
    sku = await product_sku(client, shop)
    batch = await a_batch(app, shop, sku, "LOT-COLLECTED")
    campaign = await published_campaign(
        client, shop, item(sku, batch_id=batch.id, min_group_qty=1, per_resident_limit=5)
    )
    point = await a_led_point(session, 1000)
    (buyer,) = await residents(session, 1)
    placed = await order(
        client, buyer, campaign["id"], [(campaign["items"][0]["id"], 2)], point_id=point.id
    )
    assert placed.status_code == 201, placed.text
    await pay(client, settings, placed.json()["payment"])
    order_id = placed.json()["order"]["id"]
    await past_cutoff(app, frozen_clock)
    (delivery,) = (
        await client.post(f"/api/v1/groupbuy/campaigns/{campaign['id']}/ship", headers=shop.headers)
    ).json()
    await client.post(
        f"/api/v1/groupbuy/deliveries/{delivery['id']}/arrive", headers=point.leader.headers
    )
    async with app.state.sessionmaker() as s:
        placed_order = await s.get(Order, order_id)
        assert placed_order is not None
        code = placed_order.pickup_code
    handed = await client.post(
        f"/api/v1/groupbuy/pickup-points/{point.id}/pickups",
        json={
            "code": code,
            "lines": [{"line_id": placed.json()["order"]["lines"][0]["id"], "quantity": 1}],
        },
        headers=point.leader.headers,
    )
    assert handed.status_code == 201, handed.text
    leader_account = f"leader:{point.leader.user.id}:commission"
    assert (await balances(app))[leader_account] == -150

    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 2, "reason": "霉变", "batch_ids": [batch.id]},
        headers=shop.headers,
    )
    assert opened.status_code == 201, opened.text

    books = await balances(app)
    assert sum(books.values()) == 0
    assert books[leader_account] == 0  # the commission of the collected bag is reversed
    assert books.get("clearing:orders", 0) == 0
    assert books[f"merchant:{shop.organisation.id}:payable"] == 0
    async with app.state.sessionmaker() as s:
        recalled = await s.get(Order, order_id)
        assert recalled is not None
        assert (recalled.status, recalled.refunded_fen) == ("picked_up", recalled.total_fen)
        reversals = (
            await s.scalars(select(Commission.amount_fen).where(Commission.kind == "reversal"))
        ).all()
    assert list(reversals) == [-150]
    # The bag still at the pickup point can no longer be handed over.
    late = await client.post(
        f"/api/v1/groupbuy/pickup-points/{point.id}/pickups",
        json={"code": code},
        headers=point.leader.headers,
    )
    assert late.status_code == 404


async def test_a_recall_refund_shows_its_reason_on_the_residents_pages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """The recall names its reason when it refunds: the resident's order page and order list
    say "Product recall" (in English and Chinese), never a bare "Refund"."""
    world = await a_recall_world(app, client, session, settings)
    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 2, "reason": "标签错误", "batch_ids": [world.flour.id]},
        headers=world.shop.headers,
    )
    assert opened.status_code == 201, opened.text
    async with app.state.sessionmaker() as s:
        refund = (
            await s.execute(
                select(PaymentRefund)
                .join(PaymentIntent, PaymentIntent.id == PaymentRefund.intent_id)
                .where(PaymentIntent.reference == str(world.orders["flour"]))
            )
        ).scalar_one()
        flour_order = await s.get(Order, world.orders["flour"])
    assert (refund.reason_code, refund.amount_fen) == (RefundReason.RECALL, 3000)
    assert flour_order is not None
    assert (flour_order.status, flour_order.cancel_reason) == (CANCELLED, CancelReason.RECALLED)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as resident:
        await login(resident, world.buyers["flour"].user)
        link = f"/groupbuy/orders/{world.orders['flour']}"
        for language, words in (("en", "Product recall"), ("zh-CN", "产品召回")):
            page = await resident.get(link, headers={"Accept-Language": language})
            assert page.status_code == 200
            refunds = re.findall(r"<li data-refund[^>]*>(.*?)</li>", page.text, re.S)
            assert len(refunds) == 1
            assert 'data-refund-reason="recall"' in page.text
            assert words in refunds[0]
            # The cancellation says why too (once in the heading, once in the refund).
            assert page.text.count(words) == 2
            listing = await resident.get("/groupbuy/orders", headers={"Accept-Language": language})
            assert listing.status_code == 200
            (article,) = re.findall(
                rf'<article class="panel" data-order="{world.orders["flour"]}">(.*?)</article>',
                listing.text,
                re.S,
            )
            assert '<span data-refund-reason="recall">' + words + "</span>" in article
            assert article.count(words) == 2

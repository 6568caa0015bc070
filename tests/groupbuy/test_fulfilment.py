"""After the cut-off: groups form or fail per pickup point, deliveries, pickup by code (also
partial), commission and its reversal, uncollected orders, procurement and sorting lists."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.catalog.models import Sku
from linli.clock import FrozenClock
from linli.community.models import Leader, PickupPoint
from linli.config import Settings
from linli.groupbuy import commission, cutoff
from linli.groupbuy.models import Commission, GroupOutcome, Order, Pickup
from linli.groupbuy.personal_data import export_orders
from linli.notifications.models import Notification
from linli.payments.models import PaymentRefund
from tests.factories import make_token, make_user
from tests.groupbuy.helpers import (
    Resident,
    Shop,
    a_pickup_point,
    a_shop,
    bearer,
    count,
    item,
    listed_sku,
    live_in,
    order,
    pay,
    published_campaign,
    residents,
)
from tests.payments.helpers import balances

API = "/api/v1/groupbuy"


@dataclass
class Point:
    id: int
    leader: Resident


async def a_led_point(session: AsyncSession, commission_bp: int = 1000) -> Point:
    """A pickup point run by an approved leader with the given commission."""
    point_id = await a_pickup_point(session)
    user = await make_user(session, name="王团长")
    session.add(
        Leader(user_id=user.id, commission_bp=commission_bp, approved_at=clock.now(), active=True)
    )
    point = await session.get(PickupPoint, point_id)
    assert point is not None
    point.leader_user_id = user.id
    await session.commit()
    token = await make_token(session, user, scopes=("account", "leader"))
    return Point(point_id, Resident(user, bearer(token)))


@dataclass
class World:
    shop: Shop
    campaign: dict[str, Any]
    items: list[int]
    sku_ids: list[int]
    points: list[Point]


async def a_world(
    client: httpx.AsyncClient, session: AsyncSession, *, threshold: int = 3, stock: int = 20
) -> World:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop, stock=100, price_fen=2000, code="RICE")
    oil = await listed_sku(client, shop, stock=100, price_fen=5000, code="OIL")
    campaign = await published_campaign(
        client,
        shop,
        item(rice, stock=stock, min_group_qty=threshold, per_resident_limit=5),
        item(oil, stock=stock, group_price_fen=4500, min_group_qty=threshold, per_resident_limit=5),
    )
    points = [await a_led_point(session, 1000), await a_led_point(session, 500)]
    return World(shop, campaign, [i["id"] for i in campaign["items"]], [rice, oil], points)


async def buy(
    client: httpx.AsyncClient,
    settings: Settings,
    resident: Resident,
    world: World,
    lines: list[tuple[int, int]],
    point: Point,
) -> int:
    placed = await order(client, resident, world.campaign["id"], lines, point_id=point.id)
    assert placed.status_code == 201, placed.text
    await pay(client, settings, placed.json()["payment"])
    order_id: int = placed.json()["order"]["id"]
    return order_id


async def past_cutoff(app: FastAPI, frozen_clock: FrozenClock) -> None:
    await app.state.dispatcher.run_once()  # payments applied
    frozen_clock.advance(timedelta(days=1, minutes=1))
    await app.state.dispatcher.run_once()  # the cut-off job
    await app.state.dispatcher.run_once()  # its events (notifications)


async def order_of(app: FastAPI, order_id: int) -> Order:
    async with app.state.sessionmaker() as s:
        row = await s.get(Order, order_id)
    assert isinstance(row, Order)
    return row


async def test_groups_below_threshold_are_refunded_per_pickup_point_and_item(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, threshold=3)
    rice, oil = world.items
    busy, quiet = world.points
    people = await residents(session, 5)
    # Busy point: rice 3 (forms), oil 1 (fails). Quiet point: rice 1 and oil 1 (both fail).
    formed = [await buy(client, settings, people[i], world, [(rice, 1)], busy) for i in range(2)]
    mixed = await buy(client, settings, people[2], world, [(rice, 1), (oil, 1)], busy)
    failed = await buy(client, settings, people[3], world, [(rice, 1), (oil, 1)], quiet)
    await app.state.dispatcher.run_once()
    frozen_clock.advance(timedelta(days=1, minutes=-5))  # five minutes before the cut-off
    unpaid = await order(client, people[4], world.campaign["id"], [(rice, 2)], point_id=busy.id)
    assert unpaid.status_code == 201
    # Payment closes at the cut-off, not 15 minutes later: the group is decided then.
    assert unpaid.json()["order"]["payment_due_at"] == world.campaign["cutoff_at"]
    frozen_clock.advance(timedelta(days=-1, minutes=5))

    await past_cutoff(app, frozen_clock)

    for order_id in formed:
        confirmed = await order_of(app, order_id)
        assert confirmed.status == "confirmed"
        assert confirmed.pickup_code is not None
        assert len(confirmed.pickup_code) == 6
        assert confirmed.refunded_fen == 0
    partly = await order_of(app, mixed)
    assert (partly.status, partly.refunded_fen) == ("confirmed", 4500)
    whole = await order_of(app, failed)
    assert (whole.status, whole.cancel_reason, whole.refunded_fen) == (
        "cancelled",
        "group_failed",
        1500 + 4500,
    )
    assert (await order_of(app, unpaid.json()["order"]["id"])).status == "cancelled"
    async with app.state.sessionmaker() as s:
        outcomes = {
            (o.item_id, o.pickup_point_id): (o.quantity, o.formed)
            for o in await s.scalars(select(GroupOutcome))
        }
        refunds = sorted(
            (r.amount_fen, r.reason_code) for r in await s.scalars(select(PaymentRefund))
        )
        stock = {sku.id: sku.stock for sku in await s.scalars(select(Sku))}
    assert outcomes == {
        (rice, busy.id): (3, True),
        (oil, busy.id): (1, False),
        (rice, quiet.id): (1, False),
        (oil, quiet.id): (1, False),
    }
    assert refunds == [(4500, "group_failed"), (6000, "group_failed")]
    # Unsold units and failed groups go back to the SKU: rice 20-3 sold, oil 20 all back.
    rice_sku, oil_sku = world.sku_ids
    assert stock[rice_sku] == 100 - 20 + 17
    assert stock[oil_sku] == 100
    books = await balances(app)
    assert sum(books.values()) == 0
    assert books["clearing:orders"] == -(3 * 1500)  # what still awaits pickup
    told = await count(app, Notification, Notification.kind == "group_failed")
    assert told == 2
    # The job is idempotent: a second run changes nothing.
    async with app.state.sessionmaker() as s, s.begin():
        assert await cutoff.run_cutoff(s, world.campaign["id"]) is None


async def the_whole_loop(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> tuple[World, Resident, int]:
    """Two residents buy at the busy point (the group forms); cut-off; shipped; arrived."""
    world = await a_world(client, session, threshold=2)
    rice, oil = world.items
    busy = world.points[0]
    buyer, neighbour = await residents(session, 2)
    await live_in(session, buyer.user, busy.id)
    mine = await buy(client, settings, buyer, world, [(rice, 3), (oil, 2)], busy)
    await buy(client, settings, neighbour, world, [(rice, 1), (oil, 1)], busy)
    await past_cutoff(app, frozen_clock)
    shipped = await client.post(
        f"{API}/campaigns/{world.campaign['id']}/ship", headers=world.shop.headers
    )
    assert shipped.status_code == 200, shipped.text
    (delivery,) = shipped.json()
    assert delivery["status"] == "shipped"
    arrived = await client.post(
        f"{API}/deliveries/{delivery['id']}/arrive", headers=busy.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    await app.state.dispatcher.run_once()
    return world, buyer, mine


async def test_pickup_by_code_partial_then_complete_accrues_commission(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    seen = (await client.get(f"{API}/orders/{mine}", headers=buyer.headers)).json()["order"]
    assert seen["status"] == "ready_for_pickup"
    code = seen["pickup_code"]
    assert code is not None
    assert code.isdigit()
    assert len(code) == 6
    qr = await client.get(seen["qr_url"], headers=buyer.headers)
    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    inbox = await count(
        app,
        Notification,
        Notification.user_id == buyer.user.id,
        Notification.kind == "ready_for_pickup",
    )
    assert inbox == 1

    found = await client.get(
        f"{API}/pickup-points/{busy.id}/awaiting/{code}", headers=busy.leader.headers
    )
    assert found.status_code == 200, found.text
    rice_line, oil_line = (line["line_id"] for line in found.json()["lines"])

    # Partial: two of three bags of rice now.
    first = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": f"{code[:3]} {code[3:]}", "lines": [{"line_id": rice_line, "quantity": 2}]},
        headers=busy.leader.headers,
    )
    assert first.status_code == 201, first.text
    assert first.json() == {
        "order_id": mine,
        "status": "partially_picked_up",
        "goods_fen": 3000,
        "commission_fen": 300,
        "complete": False,
    }
    too_many = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": code, "lines": [{"line_id": rice_line, "quantity": 2}]},
        headers=busy.leader.headers,
    )
    assert too_many.status_code == 422
    rest = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": code, "how": "scanned"},
        headers=busy.leader.headers,
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["status"] == "picked_up"
    assert rest.json()["goods_fen"] == 1500 + 2 * 4500
    assert rest.json()["commission_fen"] == 150 + 900
    again = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": code},
        headers=busy.leader.headers,
    )
    assert again.status_code == 404  # the code is no longer live

    books = await balances(app)
    goods = 3 * 1500 + 2 * 4500
    assert books[f"leader:{busy.leader.user.id}:commission"] == -(goods // 10)
    assert books[f"merchant:{world.shop.organisation.id}:payable"] == -(
        goods - goods // 10 - goods * 200 // 10_000
    )
    assert books["platform:revenue"] == -(goods * 200 // 10_000)
    assert sum(books.values()) == 0
    earnings = (await client.get(f"{API}/leader/earnings", headers=busy.leader.headers)).json()
    assert earnings["accrued_fen"] == goods // 10
    assert earnings["pickups"] == 1
    assert (await order_of(app, mine)).picked_up_at is not None

    # The merchant refunds one collected bottle of oil: settlement and commission reversed.
    refunded = await client.post(
        f"{API}/orders/{mine}/lines/{oil_line}/refund",
        json={"quantity": 1, "reason": "瓶子漏油"},
        headers=world.shop.headers,
    )
    assert refunded.status_code == 200, refunded.text
    assert refunded.json() == {"order_id": mine, "amount_fen": 4500, "commission_reversed_fen": 450}
    twice = await client.post(
        f"{API}/orders/{mine}/lines/{oil_line}/refund",
        json={"quantity": 2, "reason": "再退"},
        headers=world.shop.headers,
    )
    assert twice.status_code == 422  # only one collected bottle is left to refund
    books = await balances(app)
    assert books[f"leader:{busy.leader.user.id}:commission"] == -(goods // 10) + 450
    assert sum(books.values()) == 0
    async with app.state.sessionmaker() as s:
        kinds = sorted((c.kind, c.amount_fen) for c in await s.scalars(select(Commission)))
    assert ("reversal", -450) in kinds


async def test_nobody_else_can_ship_receive_or_hand_over(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, threshold=1)
    rice, _oil = world.items
    busy, quiet = world.points
    (buyer,) = await residents(session, 1)
    mine = await buy(client, settings, buyer, world, [(rice, 1)], busy)
    await past_cutoff(app, frozen_clock)
    other = await a_shop(client, session, name="别家商店")
    deliveries = (await client.get(f"{API}/merchant/deliveries", headers=world.shop.headers)).json()
    (delivery,) = deliveries
    assert (await client.get(f"{API}/merchant/deliveries", headers=other.headers)).json() == []
    assert (
        await client.post(f"{API}/deliveries/{delivery['id']}/ship", headers=other.headers)
    ).status_code == 404
    assert (
        await client.post(f"{API}/deliveries/{delivery['id']}/ship", headers=buyer.headers)
    ).status_code == 403
    # Not shipped yet: the leader cannot receive it.
    early = await client.post(
        f"{API}/deliveries/{delivery['id']}/arrive", headers=busy.leader.headers
    )
    assert early.status_code == 409
    await client.post(f"{API}/deliveries/{delivery['id']}/ship", headers=world.shop.headers)
    response = await client.post(
        f"{API}/deliveries/{delivery['id']}/arrive", headers=quiet.leader.headers
    )
    assert response.status_code == 404
    # The buyer's token carries no "leader" scope.
    response = await client.post(f"{API}/deliveries/{delivery['id']}/arrive", headers=buyer.headers)
    assert response.status_code == 403
    code = (await order_of(app, mine)).pickup_code
    assert code is not None
    # The code is not shown to the resident before the goods arrive...
    seen = (await client.get(f"{API}/orders/{mine}", headers=buyer.headers)).json()["order"]
    assert seen["pickup_code"] is None
    assert (
        await client.get(f"{API}/orders/{mine}/pickup-qr.svg", headers=buyer.headers)
    ).status_code == 404
    # ...and cannot be used before they do.
    not_yet = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": code},
        headers=busy.leader.headers,
    )
    assert not_yet.status_code == 409
    await client.post(f"{API}/deliveries/{delivery['id']}/arrive", headers=busy.leader.headers)
    elsewhere = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": code},
        headers=quiet.leader.headers,
    )
    assert elsewhere.status_code == 404
    (nosy,) = await residents(session, 1)
    assert (
        await client.get(f"{API}/orders/{mine}/pickup-qr.svg", headers=nosy.headers)
    ).status_code == 404
    junk = await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": "12ab56"},
        headers=busy.leader.headers,
    )
    assert junk.status_code == 422
    assert (
        await client.get(
            f"{API}/pickup-points/{busy.id}/sorting-list", headers=quiet.leader.headers
        )
    ).status_code == 404


async def test_a_hand_over_without_the_code_is_a_recorded_exception_the_resident_is_told_of(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy, quiet = world.points
    url = f"{API}/pickup-points/{busy.id}/orders/{mine}/handover-without-code"
    no_reason = await client.post(url, json={"reason": " "}, headers=busy.leader.headers)
    assert no_reason.status_code == 422
    elsewhere = await client.post(
        f"{API}/pickup-points/{quiet.id}/orders/{mine}/handover-without-code",
        json={"reason": "手机没电"},
        headers=quiet.leader.headers,
    )
    assert elsewhere.status_code == 404
    by_merchant = await client.post(url, json={"reason": "手机没电"}, headers=world.shop.headers)
    assert by_merchant.status_code == 404
    done = await client.post(url, json={"reason": "手机没电"}, headers=busy.leader.headers)
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "picked_up"
    async with app.state.sessionmaker() as s:
        (pickup,) = (await s.scalars(select(Pickup).where(Pickup.order_id == mine))).all()
        (entry,) = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "groupbuy.handed_over_without_code")
            )
        ).all()
    assert pickup.how == "manual"
    assert entry.details["reason"] == "手机没电"
    assert entry.target_id == str(mine)
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        told = (
            await s.scalars(
                select(Notification).where(
                    Notification.user_id == buyer.user.id,
                    Notification.kind == "handed_over_without_code",
                )
            )
        ).all()
    assert len(told) == 1
    assert told[0].params["reason"] == "手机没电"
    again = await client.post(url, json={"reason": "手机没电"}, headers=busy.leader.headers)
    assert again.status_code == 404  # nothing waits any more


async def test_uncollected_orders_are_refunded_by_rule_after_the_collection_period(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    seen = (await client.get(f"{API}/orders/{mine}", headers=buyer.headers)).json()["order"]
    rice_line = seen["lines"][0]["id"]
    await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": seen["pickup_code"], "lines": [{"line_id": rice_line, "quantity": 1}]},
        headers=busy.leader.headers,
    )
    frozen_clock.advance(timedelta(days=3, minutes=1))
    await app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once()

    left = await order_of(app, mine)
    assert left.status == "uncollected"
    # Two bags of rice and two bottles of oil were never collected.
    assert left.refunded_fen == 2 * 1500 + 2 * 4500
    books = await balances(app)
    assert sum(books.values()) == 0
    assert books.get("clearing:orders", 0) == 0  # the neighbour never came either
    async with app.state.sessionmaker() as s:
        others = (await s.scalars(select(Order).where(Order.id != mine))).all()
        reasons = [
            (r.reason_code, r.amount_fen)
            for r in await s.scalars(select(PaymentRefund).order_by(PaymentRefund.id))
        ]
    assert [(o.status, o.refunded_fen) for o in others] == [("uncollected", 1500 + 4500)]
    assert sorted(reasons) == [
        ("uncollected", 1500 + 4500),
        ("uncollected", 2 * 1500 + 2 * 4500),
    ]
    listed = await client.get(
        f"{API}/pickup-points/{busy.id}/sorting-list", headers=busy.leader.headers
    )
    statuses = {row["status"] for row in listed.json()["rows"]}
    assert statuses == {"uncollected"}


async def test_procurement_and_sorting_lists_as_json_and_csv(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, _buyer, _mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    campaign_id = world.campaign["id"]
    sheet = await client.get(
        f"{API}/campaigns/{campaign_id}/procurement", headers=world.shop.headers
    )
    assert sheet.status_code == 200
    assert [(r["sku_code"], r["pickup_point_id"], r["quantity"]) for r in sheet.json()["rows"]] == [
        ("RICE", busy.id, 4),
        ("OIL", busy.id, 3),
    ]
    as_csv = await client.get(
        f"{API}/campaigns/{campaign_id}/procurement.csv", headers=world.shop.headers
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    assert rows[0][0] == "sku_code"
    assert rows[1][0] == "RICE"
    assert rows[1][-1] == "4"
    other = await a_shop(client, session, name="别家")
    assert (
        await client.get(f"{API}/campaigns/{campaign_id}/procurement", headers=other.headers)
    ).status_code == 404

    sorting = await client.get(
        f"{API}/pickup-points/{busy.id}/sorting-list", headers=busy.leader.headers
    )
    assert sorting.status_code == 200
    async with app.state.sessionmaker() as s:
        codes = set((await s.scalars(select(Order.pickup_code))).all())
    assert len(codes) == 2
    assert all(c and len(c) == 6 for c in codes)
    # The codes are the residents' proof of collection: the leader's list carries none.
    assert len({row["order_id"] for row in sorting.json()["rows"]}) == 2
    assert all("pickup_code" not in row for row in sorting.json()["rows"])
    assert all(c not in sorting.text for c in codes)
    customers = {row["customer"] for row in sorting.json()["rows"]}
    assert all("****" in c for c in customers)  # phones masked
    by_merchant = await client.get(
        f"{API}/pickup-points/{busy.id}/sorting-list.csv",
        params={"campaign_id": campaign_id},
        headers=world.shop.headers,
    )
    assert by_merchant.status_code == 200
    assert by_merchant.text.count("\r\n") == 1 + 4  # header + four lines
    assert by_merchant.text.lstrip("\ufeff").startswith("order_id,customer,")
    assert all(c and c not in by_merchant.text for c in codes)


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    from linli.groupbuy.lists import to_csv

    text = to_csv(["a"], [['=HYPERLINK("x")'], ["-1+2"], ["@SUM(A1)"], ["苹果"]])
    assert text.splitlines()[1:] == ['"\'=HYPERLINK(""x"")"', "'-1+2", "'@SUM(A1)", "苹果"]


async def test_monthly_statement_pays_out_the_net_commission_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    seen = (await client.get(f"{API}/orders/{mine}", headers=buyer.headers)).json()["order"]
    await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": seen["pickup_code"]},
        headers=busy.leader.headers,
    )
    month = commission.month_of(clock.now())
    async with app.state.sessionmaker() as s, s.begin():
        (statement,) = await commission.close_month(s, month)
        assert await commission.close_month(s, month) == []
    goods = 3 * 1500 + 2 * 4500
    assert (statement.accrued_fen, statement.net_fen, statement.pickups) == (
        goods // 10,
        goods // 10,
        1,
    )
    books = await balances(app)
    assert books[f"leader:{busy.leader.user.id}:commission"] == 0
    assert books["cash:bank"] == -(goods // 10)
    assert sum(books.values()) == 0
    earnings = (await client.get(f"{API}/leader/earnings", headers=busy.leader.headers)).json()
    assert earnings["statements"][0]["month"] == month
    assert earnings["statements"][0]["paid_out"] is True
    # The leader's personal-data export holds the commission and its month; a resident's none.
    async with app.state.sessionmaker() as s:
        exported = await export_orders(s, busy.leader.user.id)
        theirs = await export_orders(s, buyer.user.id)
    assert sum(c["amount_fen"] for c in exported["leader_commissions"]) == goods // 10
    assert {c["kind"] for c in exported["leader_commissions"]} == {"accrual"}
    assert [(st["month"], st["net_fen"]) for st in exported["commission_statements"]] == [
        (month, goods // 10)
    ]
    assert (theirs["leader_commissions"], theirs["commission_statements"]) == ([], [])


def test_month_bounds_are_shanghai_calendar_months() -> None:
    start, end = commission.month_bounds("2026-12")
    assert start.isoformat() == "2026-11-30T16:00:00+00:00"
    assert end.isoformat() == "2026-12-31T16:00:00+00:00"
    from datetime import UTC, datetime

    assert commission.previous_month(datetime(2027, 1, 1, 1, tzinfo=UTC)) == "2026-12"
    assert commission.next_statement_run(datetime(2026, 12, 31, 17, tzinfo=UTC)).isoformat() == (
        "2027-01-31T18:00:00+00:00"
    )


async def test_a_repeated_payment_event_after_the_cutoff_changes_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    from linli.events import PaymentSucceeded
    from linli.groupbuy import orders
    from linli.payments.models import PaymentIntent

    world = await a_world(client, session, threshold=1)
    (buyer,) = await residents(session, 1)
    mine = await buy(client, settings, buyer, world, [(world.items[0], 1)], world.points[0])
    await past_cutoff(app, frozen_clock)
    async with app.state.sessionmaker() as s, s.begin():
        intent = await s.scalar(select(PaymentIntent).where(PaymentIntent.reference == str(mine)))
        assert intent is not None
        event = PaymentSucceeded(
            intent_id=intent.id,
            public_id=intent.public_id,
            purpose=intent.purpose,
            reference=intent.reference,
            amount_fen=intent.amount_fen,
            payer_user_id=intent.payer_user_id,
            payee_organisation_id=intent.payee_organisation_id,
        )
        assert await orders.mark_paid(s, event) == "already_paid"
    assert (await order_of(app, mine)).status == "confirmed"
    assert await count(app, PaymentRefund) == 0


async def test_the_merchant_sees_its_sales_net_of_refunds_an_exporter_as_domestic_sales(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    from linli.accounts.models import Organisation
    from tests.factories import login

    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    seen = (await client.get(f"{API}/orders/{mine}", headers=buyer.headers)).json()["order"]
    await client.post(
        f"{API}/pickup-points/{busy.id}/pickups",
        json={"code": seen["pickup_code"]},
        headers=busy.leader.headers,
    )
    oil_line = seen["lines"][1]["id"]
    await client.post(
        f"{API}/orders/{mine}/lines/{oil_line}/refund",
        json={"quantity": 1, "reason": "漏油"},
        headers=world.shop.headers,
    )
    report = (await client.get(f"{API}/merchant/sales", headers=world.shop.headers)).json()
    # Rice: 3 (mine) + 1 (neighbour); oil: 2 + 1, one of mine refunded after collection.
    assert sorted((r["orders"], r["units"], r["revenue_fen"]) for r in report["rows"]) == [
        (2, 2, 2 * 4500),
        (2, 4, 4 * 1500),
    ]
    assert report["revenue_fen"] == 4 * 1500 + 2 * 4500
    other = await a_shop(client, session, name="别家")
    assert (await client.get(f"{API}/merchant/sales", headers=other.headers)).json()["rows"] == []
    assert (await client.get(f"{API}/merchant/sales", headers=buyer.headers)).status_code == 403

    organisation = await session.get(Organisation, world.shop.organisation.id)
    assert organisation is not None
    organisation.foreign_trade = True
    await session.commit()
    await login(client, world.shop.owner, organisation=organisation)
    page = await client.get("/merchant")
    assert page.status_code == 200
    assert "Domestic sales of your products" in page.text
    assert "¥150.00" in page.text

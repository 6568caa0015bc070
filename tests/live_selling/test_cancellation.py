"""Cancelling a paid live order before shipment, from the outside (docs/live.md "Delivery"):
by its buyer, or by its merchant with a reason; one conditional UPDATE decides, so a
cancellation racing the shipment, a second cancellation or the other party's: exactly one
wins. The units go back (stream stock while the room holds it, else the SKU), the per-viewer
quota too, the whole amount is refunded once (`order_cancelled`), audited, and the buyer is
told when the merchant cancels. Nobody else cancels; a shipped order is not cancelled here."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit.models import CreditRecord
from linli.events import LiveOrderCancelled
from linli.live.models import LiveOrder
from linli.outbox import OutboxEvent
from linli.payments.models import PaymentRefund
from linli.web import CSRF_FIELD
from tests.factories import login
from tests.groupbuy.helpers import a_shop, live_in, pay, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import LIVE, a_studio, buy, goods_row, new_key, sku_stock
from tests.live_selling.test_fulfilment import audited, bought, mine, ship
from tests.live_selling.test_uncollected import notices
from tests.payments.helpers import balances


def cancel_url(order_id: int) -> str:
    return f"{LIVE}/orders/{order_id}/cancel"


def merchant_cancel_url(order_id: int) -> str:
    return f"{LIVE}/merchant/orders/{order_id}/cancel"


async def refunds(app: FastAPI) -> list[tuple[int, str, str | None]]:
    async with app.state.sessionmaker() as s:
        rows = (await s.scalars(select(PaymentRefund).order_by(PaymentRefund.id))).all()
    return [(r.amount_fen, r.reason_code, r.idempotency_key) for r in rows]


async def cancellation_credit(app: FastAPI) -> list[tuple[str, int, str, int, int]]:
    """The credit records of live cancellations: (subject kind, subject, reference, weight,
    rule version)."""
    async with app.state.sessionmaker() as s:
        rows = (
            await s.scalars(
                select(CreditRecord)
                .where(CreditRecord.kind == "live_order_cancelled_by_merchant")
                .order_by(CreditRecord.id)
            )
        ).all()
    return [(r.subject_kind, r.subject_id, r.reference, r.weight, r.rule_version) for r in rows]


async def order_row(app: FastAPI, order_id: int) -> LiveOrder:
    s: AsyncSession
    async with app.state.sessionmaker() as s:
        row = await s.get(LiveOrder, order_id)
    assert row is not None
    return row


async def test_the_buyer_cancels_a_paid_order_before_shipment_once_and_only_their_own(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, stream_stock=10, limit=5)
    rival = await a_shop(client, session, name="别家水果")
    buyer, neighbour = await residents(session, 2)
    order = await bought(client, settings, studio, buyer, quantity=2)
    await app.state.dispatcher.run_once()
    total = order["total_fen"]
    assert (await goods_row(app, studio.goods_id)).remaining == 8
    before = await balances(app)
    # Nobody else cancels it: another resident (404), another merchant (404), and a resident
    # is no merchant (403); nothing changed.
    other = await client.post(cancel_url(order["id"]), headers=neighbour.headers)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "live_order_not_found")
    foreign = await client.post(
        merchant_cancel_url(order["id"]), json={"reason": "缺货"}, headers=rival.headers
    )
    assert foreign.status_code == 404, foreign.text
    as_merchant = await client.post(
        merchant_cancel_url(order["id"]), json={"reason": "缺货"}, headers=buyer.headers
    )
    assert as_merchant.status_code == 403
    seen = await mine(client, buyer, order["id"])
    assert (seen["status"], seen["fulfilment_status"], seen["refunded_fen"]) == (
        "paid",
        "to_ship",
        0,
    )
    assert await refunds(app) == []
    # The buyer cancels: refunded in full, once; the units back in the room's stream stock.
    done = await client.post(cancel_url(order["id"]), headers=buyer.headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["fulfilment_status"], body["refunded_fen"]) == (
        "cancelled",
        None,
        total,
    )
    assert (await goods_row(app, studio.goods_id)).remaining == 10
    assert await refunds(app) == [(total, "order_cancelled", f"live-cancel-{order['id']}")]
    after = await balances(app)
    assert sum(after.values()) == 0
    assert after != before
    (entry,) = await audited(app, "live.order_cancelled")
    assert entry.user_id == buyer.user.id
    assert (entry.details["cancelled_by"], entry.details["refunded_fen"]) == ("buyer", total)
    # Again, or by the merchant, or shipped now: 409 with a clear code, nothing more moves.
    again = await client.post(cancel_url(order["id"]), headers=buyer.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_cancelled")
    late = await client.post(
        merchant_cancel_url(order["id"]), json={"reason": "缺货"}, headers=studio.shop.headers
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "already_cancelled")
    shipped = await ship(client, studio, order["id"])
    assert (shipped.status_code, shipped.json()["error"]["code"]) == (409, "already_cancelled")
    await app.state.dispatcher.run_once()
    assert len(await refunds(app)) == 1
    assert len(await audited(app, "live.order_cancelled")) == 1
    assert (await goods_row(app, studio.goods_id)).remaining == 10
    # The buyer's own cancellation counts for nobody's credit, and sends them no inbox
    # message; the merchant's owner is told.
    assert await cancellation_credit(app) == []
    assert await notices(app, buyer.user.id, "live_order_cancelled") == []
    (told,) = await notices(app, studio.shop.owner.id, "live_order_cancelled")
    assert (told.params["order_id"], told.link) == (order["id"], "/merchant/live-orders")
    # The per-viewer quota was given back: the whole limit may be bought again.
    assert (await buy(client, buyer.headers, studio, quantity=5)).status_code == 201


async def test_the_merchant_cancels_with_a_reason_units_go_to_the_sku_and_the_buyer_is_told(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, sku_stock=100, stream_stock=10)
    (buyer,) = await residents(session, 1)
    order = await bought(client, settings, studio, buyer, quantity=3)
    shipped_order = await bought(client, settings, studio, buyer, quantity=1)
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, shipped_order["id"])).status_code == 200
    # Bad reasons are refused (422) with nothing changed.
    for data in (
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x"},
        {"reason": "缺" * 201},
        {"reason": "缺\x00货"},
        {"reason": "缺货\x1b[31m"},
        {"reason": "缺货", "extra": 1},
        {"reason": 12},
    ):
        bad = await client.post(
            merchant_cancel_url(order["id"]), json=data, headers=studio.shop.headers
        )
        assert bad.status_code == 422, (data, bad.text)
    # A shipped order is not cancelled: 409, a clear code.
    refused = await client.post(
        merchant_cancel_url(shipped_order["id"]),
        json={"reason": "缺货"},
        headers=studio.shop.headers,
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "already_shipped")
    mine_shipped = await client.post(cancel_url(shipped_order["id"]), headers=buyer.headers)
    assert (mine_shipped.status_code, mine_shipped.json()["error"]["code"]) == (
        409,
        "already_shipped",
    )
    assert (await order_row(app, order["id"])).status == "paid"
    assert await refunds(app) == []
    # The room ends: its stream stock goes back to the SKU; the cancelled units follow it.
    ended = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200, ended.text
    stock_before = await sku_stock(app, studio.sku_id)
    done = await client.post(
        merchant_cancel_url(order["id"]),
        json={"reason": "  仓库断货，无法发货  "},
        headers=studio.shop.headers,
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled"
    assert await sku_stock(app, studio.sku_id) == stock_before + 3
    total = order["total_fen"]
    assert await refunds(app) == [(total, "order_cancelled", f"live-cancel-{order['id']}")]
    (entry,) = await audited(app, "live.order_cancelled")
    assert entry.user_id == studio.shop.owner.id
    assert (entry.details["cancelled_by"], entry.details["reason"]) == (
        "merchant",
        "仓库断货，无法发货",
    )
    # The buyer is told in the inbox why, and what was refunded.
    await app.state.dispatcher.run_once()
    (notice,) = await notices(app, buyer.user.id, "live_order_cancelled")
    assert notice.params["reason"] == "仓库断货，无法发货"
    assert notice.params["order_id"] == order["id"]
    assert notice.link == "/live/orders"
    # It counts against the merchant's credit (credit.scoring version 5), once: another
    # delivery of the event writes nothing more.
    merchant_credit = [
        (
            "merchant",
            studio.shop.organisation.id,
            f"live_order:{order['id']}",
            -10,
            5,
        )
    ]
    assert await cancellation_credit(app) == merchant_credit
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.event_type == LiveOrderCancelled.event_name)
            .values(status="pending")
        )
        await s.commit()
    await app.state.dispatcher.run_once()
    assert await cancellation_credit(app) == merchant_credit
    seen = await mine(client, buyer, order["id"])
    assert (seen["status"], seen["refunded_fen"]) == ("cancelled", total)
    # The merchant still finds it: under "cancelled" and "all", not among those to ship.
    listed = {}
    for state in ("cancelled", "all", "to_ship"):
        answer = await client.get(
            f"{LIVE}/merchant/orders", params={"state": state}, headers=studio.shop.headers
        )
        assert answer.status_code == 200, answer.text
        listed[state] = [o["id"] for o in answer.json()]
    assert listed["cancelled"] == [order["id"]]
    assert set(listed["all"]) == {order["id"], shipped_order["id"]}
    assert order["id"] not in listed["to_ship"]


async def test_a_pickup_order_is_cancelled_until_it_is_shipped_to_the_point(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    point = await a_led_point(session)
    (buyer,) = await residents(session, 1)
    await live_in(session, buyer.user, point.id)
    placed: list[dict[str, Any]] = []
    for _ in range(2):
        made = await client.post(
            f"{LIVE}/rooms/{studio.room_id}/orders",
            json={"goods_id": studio.goods_id, "quantity": 1, "pickup": True},
            headers=buyer.headers | {"Idempotency-Key": new_key()},
        )
        assert made.status_code == 201, made.text
        await pay(client, settings, made.json()["payment"])
        placed.append(made.json())
    await app.state.dispatcher.run_once()
    first, second = placed
    done = await client.post(cancel_url(first["id"]), headers=buyer.headers)
    assert done.status_code == 200, done.text
    assert (await ship(client, studio, second["id"])).status_code == 200
    late = await client.post(cancel_url(second["id"]), headers=buyer.headers)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "already_shipped")
    # Neither the leader of the point: not a resident's own order, not a merchant.
    leader = await client.post(cancel_url(first["id"]), headers=point.leader.headers)
    assert leader.status_code in (403, 404)
    assert [r[0] for r in await refunds(app)] == [first["total_fen"]]


async def test_a_cancellation_racing_the_shipment_or_another_cancellation_wins_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, stream_stock=30, limit=5)
    buyers = await residents(session, 3)
    orders = [await bought(client, settings, studio, b, quantity=2) for b in buyers]
    await app.state.dispatcher.run_once()
    assert (await goods_row(app, studio.goods_id)).remaining == 24
    shop = studio.shop.headers
    reason = {"reason": "缺货"}
    (o1, b1), (o2, b2), (o3, b3) = zip(orders, buyers, strict=True)
    races = [
        # the buyer's cancellation against the shipment
        (
            o1,
            client.post(cancel_url(o1["id"]), headers=b1.headers),
            ship(client, studio, o1["id"]),
        ),
        # the buyer's against the merchant's
        (
            o2,
            client.post(cancel_url(o2["id"]), headers=b2.headers),
            client.post(merchant_cancel_url(o2["id"]), json=reason, headers=shop),
        ),
        # the buyer's twice
        (
            o3,
            client.post(cancel_url(o3["id"]), headers=b3.headers),
            client.post(cancel_url(o3["id"]), headers=b3.headers),
        ),
    ]
    cancelled = 0
    for order, one, other in races:
        a, b = await asyncio.gather(one, other)
        codes = sorted((a.status_code, b.status_code))
        assert codes == [200, 409], (a.text, b.text)
        loser = a if a.status_code == 409 else b
        assert loser.json()["error"]["code"] in ("already_cancelled", "already_shipped")
        row = await order_row(app, order["id"])
        if row.status == "cancelled":
            cancelled += 1
            assert row.fulfilment_status is None
            assert row.refunded_fen == row.total_fen
        else:
            assert (row.status, row.fulfilment_status, row.refunded_fen) == ("paid", "shipped", 0)
    # Each cancelled order refunded once, its units back once, one audit each.
    got = await refunds(app)
    assert len(got) == cancelled
    assert len({key for _, _, key in got}) == cancelled
    assert all(code == "order_cancelled" for _, code, _ in got)
    assert len(await audited(app, "live.order_cancelled")) == cancelled
    assert (await goods_row(app, studio.goods_id)).remaining == 24 + 2 * cancelled
    assert sum((await balances(app)).values()) == 0


def _form(c: httpx.AsyncClient, url: str, **data: Any) -> Any:
    return c.post(url, data={CSRF_FIELD: c.cookies.get(CSRF_COOKIE) or "", **data})


async def test_the_pages_cancel_for_the_buyer_and_for_the_merchant_with_a_reason(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    buyer, neighbour = await residents(session, 2)
    mine_order = await bought(client, settings, studio, buyer, quantity=1)
    theirs = await bought(client, settings, studio, buyer, quantity=1)
    await app.state.dispatcher.run_once()
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as merchant,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as viewer,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as other,
    ):
        await login(merchant, studio.shop.owner, organisation=studio.shop.organisation)
        await login(viewer, buyer.user)
        await login(other, neighbour.user)
        for c in (merchant, viewer, other):
            c.headers.pop("X-CSRF-Token", None)
        page = await viewer.get("/live/orders", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200
        assert f'action="/live/orders/{mine_order["id"]}/cancel"' in page.text
        assert "取消订单" in page.text
        # Another resident cannot cancel it from the page either.
        assert (await _form(other, f"/live/orders/{mine_order['id']}/cancel")).status_code == 404
        done = await _form(viewer, f"/live/orders/{mine_order['id']}/cancel")
        assert done.status_code == 303, done.text
        assert (await order_row(app, mine_order["id"])).status == "cancelled"
        after = await viewer.get("/live/orders")
        assert f'action="/live/orders/{mine_order["id"]}/cancel"' not in after.text
        assert re.search(r"data-cancelled>[^<]*¥", after.text)
        # The merchant's page has the reason field; an empty reason is refused, nothing moves.
        listed = await merchant.get("/merchant/live-orders", headers={"Accept-Language": "zh-CN"})
        assert f'action="/merchant/live-orders/{theirs["id"]}/cancel"' in listed.text
        assert "取消并全额退款" in listed.text
        empty = await _form(merchant, f"/merchant/live-orders/{theirs['id']}/cancel", reason=" ")
        assert empty.status_code == 422
        assert (await order_row(app, theirs["id"])).status == "paid"
        cancelled = await _form(
            merchant, f"/merchant/live-orders/{theirs['id']}/cancel", reason="冷链车故障"
        )
        assert cancelled.status_code == 303, cancelled.text
        assert (await order_row(app, theirs["id"])).status == "cancelled"
        again = await _form(merchant, f"/merchant/live-orders/{theirs['id']}/cancel", reason="再次")
        assert again.status_code == 409
        shown = await merchant.get(
            "/merchant/live-orders?state=cancelled", headers={"Accept-Language": "zh-CN"}
        )
        assert shown.status_code == 200
        assert f'data-live-order="{theirs["id"]}"' in shown.text
        assert 'data-fulfilment="cancelled"' in shown.text
        assert "已取消" in shown.text

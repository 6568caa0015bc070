"""Delivery of paid live orders from the outside (docs/live.md "Delivery"): the address at
checkout or later, the merchant's shipment (carrier, tracking number), the resident's receipt
or the automatic one on the clock, each move once and scoped to its actor and audited; the
replay link on the order; the seven-day return of a received live order through protection's
returns, refunded exactly once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.audit.models import AuditEntry
from linli.categories.spending import Period
from linli.clock import FrozenClock
from linli.config import Settings
from linli.live import consumption
from linli.live.models import LiveOrder, Pin, Recording
from linli.live.personal_data import export_live, open_live
from linli.notifications.models import Notification
from linli.payments.models import PaymentRefund
from linli.protection.return_models import ReturnRequest
from linli.web import CSRF_FIELD
from tests.factories import login
from tests.groupbuy.helpers import Resident, a_shop, count, live_in, pay, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import LIVE, Studio, a_studio, new_key
from tests.payments.helpers import balances

RETURNS = "/api/v1/protection/returns"
ADDRESS = {
    "recipient_name": "王芳",
    "recipient_phone": "138 0013 8000",
    "address": "上海市浦东新区锦绣路 100 弄 3 号 502 室",
}
# Bought, paid, shipped and received on 2026-11-26 (Shanghai, the frozen clock's day): the
# return window is 11-27 .. 12-03.
DAY_7_LATE = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # 23:30 on 12-03 in Shanghai
DAY_8_EARLY = datetime(2026, 12, 3, 16, 10, tzinfo=UTC)  # 00:10 on 12-04 in Shanghai


async def bought(
    client: httpx.AsyncClient,
    settings: Settings,
    studio: Studio,
    buyer: Resident,
    *,
    quantity: int = 2,
    delivery: dict[str, str] | None = ADDRESS,
) -> dict[str, Any]:
    """A paid live order of `buyer` (with the delivery address unless None)."""
    body: dict[str, Any] = {"goods_id": studio.goods_id, "quantity": quantity}
    if delivery is not None:
        body["delivery"] = delivery
    placed = await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json=body,
        headers=buyer.headers | {"Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    await pay(client, settings, placed.json()["payment"])
    return dict(placed.json())


async def ship(
    client: httpx.AsyncClient, studio: Studio, order_id: int, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        f"{LIVE}/merchant/orders/{order_id}/ship",
        json={"carrier": "sf", "tracking_number": "sf1234567890"},
        headers=headers or studio.shop.headers,
    )


async def mine(client: httpx.AsyncClient, buyer: Resident, order_id: int) -> dict[str, Any]:
    got = await client.get(f"{LIVE}/orders/{order_id}", headers=buyer.headers)
    assert got.status_code == 200, got.text
    return dict(got.json())


async def audited(app: FastAPI, action: str) -> list[AuditEntry]:
    async with app.state.sessionmaker() as s:
        return list(await s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_a_paid_order_is_shipped_once_by_its_merchant_and_received_once_by_its_buyer(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    rival = await a_shop(client, session, name="别家水果")
    buyer, neighbour = await residents(session, 2)
    order = await bought(client, settings, studio, buyer)
    await app.state.dispatcher.run_once()
    seen = await mine(client, buyer, order["id"])
    assert (seen["status"], seen["fulfilment_status"]) == ("paid", "to_ship")
    assert seen["recipient_phone"] == "+8613800138000"  # normalised
    assert seen["delivery_address"] == ADDRESS["address"]
    # The merchant's list of orders to ship has it, with the address; the rival's has nothing.
    listed = await client.get(f"{LIVE}/merchant/orders", headers=studio.shop.headers)
    assert [(o["id"], o["recipient_name"]) for o in listed.json()] == [(order["id"], "王芳")]
    assert (await client.get(f"{LIVE}/merchant/orders", headers=rival.headers)).json() == []
    # Nobody else ships it, receives it or changes its address: 404, as for a missing order.
    assert (await ship(client, studio, order["id"], rival.headers)).status_code == 404
    for path, json in (("receive", None), ("address", ADDRESS)):
        other = await client.post(
            f"{LIVE}/orders/{order['id']}/{path}", json=json, headers=neighbour.headers
        )
        assert other.status_code == 404, other.text
    assert (
        await client.get(f"{LIVE}/orders/{order['id']}", headers=neighbour.headers)
    ).status_code == 404
    # Not received before it is shipped.
    early = await client.post(f"{LIVE}/orders/{order['id']}/receive", headers=buyer.headers)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_shipped")
    # Bad shipments are refused with nothing changed.
    for data in (
        {"carrier": "pigeon", "tracking_number": "SF1234567890"},
        {"carrier": "sf", "tracking_number": "12"},
        {"carrier": "sf", "tracking_number": "SF12<script>"},
    ):
        bad = await client.post(
            f"{LIVE}/merchant/orders/{order['id']}/ship", json=data, headers=studio.shop.headers
        )
        assert bad.status_code == 422, bad.text
    # Shipped once: the second time 409.
    shipped = await ship(client, studio, order["id"])
    assert shipped.status_code == 200, shipped.text
    assert (shipped.json()["carrier"], shipped.json()["tracking_number"]) == ("sf", "SF1234567890")
    assert shipped.json()["fulfilment_status"] == "shipped"
    assert shipped.json()["receive_by"].startswith("2026-12-06T02:00")  # 10 days (live.delivery)
    again = await ship(client, studio, order["id"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_shipped")
    # The address is fixed once shipped.
    late = await client.post(
        f"{LIVE}/orders/{order['id']}/address", json=ADDRESS, headers=buyer.headers
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "address_locked")
    # The buyer confirms receipt, once.
    received = await client.post(f"{LIVE}/orders/{order['id']}/receive", headers=buyer.headers)
    assert received.status_code == 200, received.text
    assert received.json()["fulfilment_status"] == "received"
    assert received.json()["received_automatically"] is False
    twice = await client.post(f"{LIVE}/orders/{order['id']}/receive", headers=buyer.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_received")
    # The due job at receive_by finds it received and changes nothing.
    frozen_clock.advance(timedelta(days=11))
    await app.state.dispatcher.run_once()
    assert (await mine(client, buyer, order["id"]))["received_automatically"] is False
    # Audited: who shipped and who received.
    (shipment,) = await audited(app, "live.order_shipped")
    assert (shipment.user_id, shipment.target_id) == (studio.shop.owner.id, str(order["id"]))
    assert shipment.details["tracking_number"] == "SF1234567890"
    (receipt,) = await audited(app, "live.order_received")
    assert receipt.user_id == buyer.user.id


async def test_an_order_bought_without_address_is_shipped_once_the_buyer_gives_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> None:
    studio = await a_studio(client, session)
    (buyer,) = await residents(session, 1)
    order = await bought(client, settings, studio, buyer, delivery=None)
    await app.state.dispatcher.run_once()
    missing = await ship(client, studio, order["id"])
    assert (missing.status_code, missing.json()["error"]["code"]) == (409, "address_missing")
    for bad in (
        ADDRESS | {"recipient_phone": "12345"},
        ADDRESS | {"address": ""},
        ADDRESS | {"recipient_name": "王\x00芳"},
        {"recipient_name": "王芳"},
    ):
        refused = await client.post(
            f"{LIVE}/orders/{order['id']}/address", json=bad, headers=buyer.headers
        )
        assert refused.status_code == 422, refused.text
    given = await client.post(
        f"{LIVE}/orders/{order['id']}/address", json=ADDRESS, headers=buyer.headers
    )
    assert given.status_code == 200, given.text
    assert given.json()["delivery_address"] == ADDRESS["address"]
    assert (await ship(client, studio, order["id"])).status_code == 200
    assert len(await audited(app, "live.order_address_set")) == 1


async def test_a_shipped_order_is_received_automatically_after_the_rules_days(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    (buyer,) = await residents(session, 1)
    order = await bought(client, settings, studio, buyer)
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, order["id"])).status_code == 200
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        notice = await s.scalar(
            select(Notification).where(
                Notification.user_id == buyer.user.id, Notification.kind == "live_order_shipped"
            )
        )
    assert notice is not None
    assert notice.params["tracking"] == "SF1234567890"
    assert notice.link == "/live/orders"
    frozen_clock.advance(timedelta(days=10) - timedelta(minutes=1))
    await app.state.dispatcher.run_once()
    assert (await mine(client, buyer, order["id"]))["fulfilment_status"] == "shipped"
    frozen_clock.advance(timedelta(minutes=2))
    await app.state.dispatcher.run_once()
    seen = await mine(client, buyer, order["id"])
    assert (seen["fulfilment_status"], seen["received_automatically"]) == ("received", True)
    (receipt,) = await audited(app, "live.order_received")
    assert receipt.user_id is None  # the system
    assert receipt.details["automatically"] is True
    # Once: a second run of the job changes nothing.
    await app.state.dispatcher.run_once()
    assert len(await audited(app, "live.order_received")) == 1


async def test_the_order_links_the_replay_at_the_pins_moment(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    (buyer,) = await residents(session, 1)
    order = await bought(client, settings, studio, buyer)
    assert (await mine(client, buyer, order["id"]))["replay_url"] is None  # nothing recorded
    async with app.state.sessionmaker() as s:
        pin = await s.scalar(select(Pin).where(Pin.room_id == studio.room_id))
        assert pin is not None
        # A recording of the session closed 10 minutes after the pin, 15 minutes long: the
        # pin is 5 minutes (300 s) into it.
        recording = Recording(
            room_id=studio.room_id,
            session_id=pin.session_id,
            source_name=f"room-{studio.room_id}-1.flv",
            status="ready",
            file_name=f"room-{studio.room_id}-1.mp4",
            bytes=1000,
            duration_ms=15 * 60 * 1000,
            recorded_at=pin.pinned_at + timedelta(minutes=10),
            retain_until=pin.pinned_at + timedelta(days=3 * 366),
        )
        s.add(recording)
        await s.commit()
        recording_id = recording.id
    seen = await mine(client, buyer, order["id"])
    assert seen["replay_url"] == f"/live/{studio.room_id}/recordings/{recording_id}.mp4#t=300"
    assert seen["replay_at_seconds"] == 300
    listed = await client.get(f"{LIVE}/orders", headers=buyer.headers)
    assert listed.json()[0]["replay_url"] == seen["replay_url"]


async def received_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    studio: Studio,
    buyer: Resident,
    quantity: int = 2,
) -> int:
    order = await bought(client, settings, studio, buyer, quantity=quantity)
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, order["id"])).status_code == 200
    received = await client.post(f"{LIVE}/orders/{order['id']}/receive", headers=buyer.headers)
    assert received.status_code == 200, received.text
    return int(order["id"])


async def ask(
    client: httpx.AsyncClient, buyer: Resident, order_id: int, quantity: int = 1
) -> httpx.Response:
    return await client.post(
        RETURNS,
        json={"live_order_id": order_id, "quantity": quantity, "reason_code": "changed_mind"},
        headers=buyer.headers,
    )


async def test_a_received_live_order_is_returned_within_the_seven_days(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    buyer, neighbour = await residents(session, 2)
    unshipped = await bought(client, settings, studio, buyer, quantity=1)
    first = await received_order(app, client, settings, studio, buyer, quantity=1)
    second = await received_order(app, client, settings, studio, buyer, quantity=1)
    # Not received yet: refused, nothing stored.
    early = await ask(client, buyer, unshipped["id"])
    assert (early.status_code, early.json()["error"]["code"]) == (422, "not_received")
    # Another resident's order is not theirs to return: 404.
    assert (await ask(client, neighbour, first)).status_code == 404
    # Both sources, or none: refused.
    both = await client.post(
        RETURNS,
        json={"live_order_id": first, "line_id": 1, "quantity": 1, "reason_code": "other"},
        headers=buyer.headers,
    )
    assert both.status_code == 422, both.text
    frozen_clock.set(DAY_7_LATE)
    accepted = await ask(client, buyer, first)
    assert accepted.status_code == 201, accepted.text
    made = accepted.json()
    assert (made["live_order_id"], made["order_id"], made["pickup_point_id"]) == (first, None, None)
    assert (made["received_on"], made["last_day"]) == ("2026-11-26", "2026-12-03")
    frozen_clock.set(DAY_8_EARLY)
    refused = await ask(client, buyer, second)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "return_window_closed")
    assert "2026-12-03" in refused.json()["error"]["fields"]["live_order_id"]
    assert await count(app, ReturnRequest) == 1


async def test_a_live_return_is_answered_received_and_refunded_exactly_once_by_its_merchant(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=990)
    rival = await a_shop(client, session, name="别家水果")
    (buyer,) = await residents(session, 1)
    order_id = await received_order(app, client, settings, studio, buyer, quantity=3)
    before = await balances(app)
    made = await ask(client, buyer, order_id, quantity=2)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    too_many = await ask(client, buyer, order_id, quantity=2)  # 2 held, 1 left
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (
        422,
        "return_exceeds_collected",
    )
    # The merchant's list has it; the rival's does not, and the rival cannot answer it.
    listed = await client.get(f"{RETURNS}/merchant", headers=studio.shop.headers)
    assert [r["id"] for r in listed.json()] == [rid]
    for step, json in (("answer", {"approve": True}), ("collect", {"condition": "intact"})):
        other = await client.post(f"{RETURNS}/{rid}/{step}", json=json, headers=rival.headers)
        assert other.status_code == 404, other.text
    assert (await client.post(f"{RETURNS}/{rid}/refund", headers=rival.headers)).status_code == 404
    approved = await client.post(
        f"{RETURNS}/{rid}/answer", json={"approve": True}, headers=studio.shop.headers
    )
    assert approved.json()["status"] == "approved", approved.text
    # No pickup point: no leader has it to receive; the merchant records the goods back.
    back = await client.post(
        f"{RETURNS}/{rid}/collect",
        json={"condition": "intact", "note": "快递寄回"},
        headers=studio.shop.headers,
    )
    assert back.json()["status"] == "received", back.text
    refunded = await client.post(f"{RETURNS}/{rid}/refund", headers=studio.shop.headers)
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["status"], refunded.json()["refunded_fen"]) == ("refunded", 1980)
    again = await client.post(f"{RETURNS}/{rid}/refund", headers=studio.shop.headers)
    assert again.json()["refunded_fen"] == 1980
    async with app.state.sessionmaker() as s:
        order = await s.get(LiveOrder, order_id)
        refunds = (await s.scalars(select(PaymentRefund))).all()
    assert order is not None
    assert (order.returned_qty, order.refunded_fen) == (2, 1980)
    assert [(r.amount_fen, r.reason_code) for r in refunds] == [(1980, "return")]
    after = await balances(app)  # the books balance
    assert sum(after.values()) == 0
    assert after != before
    seen = await mine(client, buyer, order_id)
    assert (seen["returned_qty"], seen["refunded_fen"]) == (2, 1980)
    # The last unit may still be asked for; the two refunded ones may not.
    assert (await ask(client, buyer, order_id, quantity=2)).status_code == 422
    assert (await ask(client, buyer, order_id, quantity=1)).status_code == 201
    # Consumption statistics count what the buyer kept: 1 × 9.90 of the 3 paid.
    today = Period(frozen_clock.now() - timedelta(days=30), frozen_clock.now() + timedelta(days=1))
    async with app.state.sessionmaker() as s:
        spent = await consumption.paid_by_category(s, today, None)
    assert [(row.amount_fen, row.count) for row in spent] == [(990, 1)]


async def form(c: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    return await c.post(url, data={CSRF_FIELD: c.cookies.get(CSRF_COOKIE) or "", **data})


async def test_the_pages_buy_with_an_address_ship_receive_and_link_the_return_in_both_languages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    studio = await a_studio(client, session)
    (buyer,) = await residents(session, 1)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as merchant,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as viewer,
    ):
        await login(merchant, studio.shop.owner, organisation=studio.shop.organisation)
        await login(viewer, buyer.user)
        for c in (merchant, viewer):
            c.headers.pop("X-CSRF-Token", None)
        room = await viewer.get(f"/live/{studio.room_id}")
        assert 'name="recipient_name"' in room.text
        key = re.search(r'name="key" value="([^"]+)"', room.text)
        assert key is not None
        # Half an address is refused; nothing is bought.
        half = await form(
            viewer,
            f"/live/{studio.room_id}/buy",
            key=key.group(1),
            goods_id=studio.goods_id,
            quantity=1,
            recipient_name="王芳",
        )
        assert half.status_code == 422, half.text
        assert await count(app, LiveOrder) == 0
        placed = await form(
            viewer,
            f"/live/{studio.room_id}/buy",
            key=key.group(1),
            goods_id=studio.goods_id,
            quantity=1,
            **ADDRESS,
        )
        assert placed.status_code == 303, placed.text
        async with app.state.sessionmaker() as s:
            order = await s.scalar(select(LiveOrder))
            assert order is not None
            order_id = order.id
            assert order.delivery_address == ADDRESS["address"]
        # The next room page offers the same address.
        again = await viewer.get(f"/live/{studio.room_id}")
        assert ADDRESS["address"] in again.text
        intents = (await client.get(f"{LIVE}/orders", headers=buyer.headers)).json()
        assert intents[0]["id"] == order_id
        payment = (
            await client.post(
                f"{LIVE}/rooms/{studio.room_id}/orders",
                json={"goods_id": studio.goods_id, "quantity": 1},
                headers=buyer.headers | {"Idempotency-Key": key.group(1)},
            )
        ).json()["payment"]
        await pay(client, settings, payment)
        await app.state.dispatcher.run_once()
        # The merchant's page lists it to ship, in Chinese too, and records the shipment.
        listed = await merchant.get("/merchant/live-orders", headers={"Accept-Language": "zh-CN"})
        assert listed.status_code == 200
        assert "待发货" in listed.text
        assert ADDRESS["address"] in listed.text
        bad = await form(
            merchant, f"/merchant/live-orders/{order_id}/ship", carrier="sf", tracking_number="1"
        )
        assert bad.status_code == 422, bad.text
        shipped = await form(
            merchant,
            f"/merchant/live-orders/{order_id}/ship",
            carrier="zto",
            tracking_number="7300 1234 5678",
        )
        assert shipped.status_code == 303, shipped.text
        mine_page = await viewer.get("/live/orders", headers={"Accept-Language": "zh-CN"})
        assert "中通快递 730012345678" in mine_page.text
        assert "确认收货" in mine_page.text
        received = await form(viewer, f"/live/orders/{order_id}/receive")
        assert received.status_code == 303, received.text
        mine_page = await viewer.get("/live/orders")
        assert 'data-fulfilment="received"' in mine_page.text
        assert f'href="/returns/new-live/{order_id}"' in mine_page.text
        new_return = await viewer.get(f"/returns/new-live/{order_id}")
        assert new_return.status_code == 200
        assert f'name="live_order_id" value="{order_id}"' in new_return.text
        asked = await form(
            viewer, "/returns", live_order_id=order_id, quantity=1, reason_code="changed_mind"
        )
        assert asked.status_code == 303, asked.text
        assert asked.headers["location"] == "/returns"
        returns_page = await viewer.get("/returns")
        assert f'data-live-order="{order_id}"' in returns_page.text


async def test_closing_waits_for_a_shipped_order_but_not_for_a_received_one(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    studio = await a_studio(client, session)
    (buyer,) = await residents(session, 1)
    order_id = (await bought(client, settings, studio, buyer))["id"]
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, order_id)).status_code == 200
    async with app.state.sessionmaker() as s:
        assert len(await open_live(s, buyer.user.id)) == 1
    assert (
        await client.post(f"{LIVE}/orders/{order_id}/receive", headers=buyer.headers)
    ).status_code == 200
    async with app.state.sessionmaker() as s:
        assert await open_live(s, buyer.user.id) == []
        exported = await export_live(s, buyer.user.id)
    (row,) = exported["orders"]
    assert (row["delivery_address"], row["tracking_number"]) == (ADDRESS["address"], "SF1234567890")


async def test_a_pickup_order_arrives_at_the_buyers_point_and_is_handed_over_against_its_code(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    point, other_point = await a_led_point(session), await a_led_point(session)
    buyer, homeless = await residents(session, 2)
    await live_in(session, buyer.user, point.id)
    # No residence, no pickup point: refused; pickup and an address together: refused.
    for who, body in (
        (homeless, {"goods_id": studio.goods_id, "pickup": True}),
        (buyer, {"goods_id": studio.goods_id, "pickup": True, "delivery": ADDRESS}),
    ):
        refused = await client.post(
            f"{LIVE}/rooms/{studio.room_id}/orders",
            json=body,
            headers=who.headers | {"Idempotency-Key": new_key()},
        )
        assert refused.status_code == 422, refused.text
    placed = await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": studio.goods_id, "quantity": 2, "pickup": True},
        headers=buyer.headers | {"Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await pay(client, settings, placed.json()["payment"])
    await app.state.dispatcher.run_once()
    seen = await mine(client, buyer, order_id)
    assert (seen["pickup_point_id"], seen["pickup_point_name"]) == (point.id, "3号楼门卫室")
    no_address = await client.post(
        f"{LIVE}/orders/{order_id}/address", json=ADDRESS, headers=buyer.headers
    )
    assert (no_address.status_code, no_address.json()["error"]["code"]) == (409, "pickup_order")
    points_api = f"{LIVE}/pickup-points"
    # Not shipped yet: it cannot arrive.
    early = await client.post(
        f"{points_api}/{point.id}/orders/{order_id}/arrive", headers=point.leader.headers
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_on_its_way")
    assert (await ship(client, studio, order_id)).status_code == 200
    assert (await mine(client, buyer, order_id))["receive_by"] is None  # no automatic receipt
    # The buyer does not confirm a pickup order: the hand-over is the receipt.
    self_receipt = await client.post(f"{LIVE}/orders/{order_id}/receive", headers=buyer.headers)
    assert (self_receipt.status_code, self_receipt.json()["error"]["code"]) == (
        409,
        "collect_at_point",
    )
    # Another point's leader sees and does nothing here: 404; the buyer's token is no leader's.
    for headers in (other_point.leader.headers, buyer.headers):
        listed = await client.get(f"{points_api}/{point.id}/orders", headers=headers)
        assert listed.status_code in (403, 404), listed.text
    other = await client.post(
        f"{points_api}/{other_point.id}/orders/{order_id}/arrive",
        headers=other_point.leader.headers,
    )
    assert other.status_code == 404, other.text
    listed = await client.get(f"{points_api}/{point.id}/orders", headers=point.leader.headers)
    assert [(o["id"], o["fulfilment_status"]) for o in listed.json()] == [(order_id, "shipped")]
    assert "pickup_code" not in listed.json()[0]
    arrived = await client.post(
        f"{points_api}/{point.id}/orders/{order_id}/arrive", headers=point.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    assert arrived.json()["fulfilment_status"] == "at_point"
    twice = await client.post(
        f"{points_api}/{point.id}/orders/{order_id}/arrive", headers=point.leader.headers
    )
    assert twice.status_code == 409
    code = (await mine(client, buyer, order_id))["pickup_code"]
    assert code is not None
    assert len(code) == 6
    merchant_view = await client.get(
        f"{LIVE}/merchant/orders?state=at_point", headers=studio.shop.headers
    )
    assert [o["pickup_code"] for o in merchant_view.json()] == [None]  # never the merchant's
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        kinds = set(
            await s.scalars(select(Notification.kind).where(Notification.user_id == buyer.user.id))
        )
    assert {"live_order_shipped", "live_order_at_point"} <= kinds
    # The code works at its own point only, once; a malformed code is 422.
    wrong_point = await client.post(
        f"{points_api}/{other_point.id}/handover",
        json={"code": code},
        headers=other_point.leader.headers,
    )
    assert wrong_point.status_code == 404
    bad = await client.post(
        f"{points_api}/{point.id}/handover", json={"code": "12ab"}, headers=point.leader.headers
    )
    assert bad.status_code == 422
    handed = await client.post(
        f"{points_api}/{point.id}/handover",
        json={"code": f"{code[:3]} {code[3:]}"},
        headers=point.leader.headers,
    )
    assert handed.status_code == 200, handed.text
    assert handed.json()["fulfilment_status"] == "received"
    again = await client.post(
        f"{points_api}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
    )
    assert again.status_code == 404
    seen = await mine(client, buyer, order_id)
    assert (seen["fulfilment_status"], seen["received_automatically"]) == ("received", False)
    (handover,) = await audited(app, "live.order_handed_over")
    assert handover.user_id == point.leader.user.id
    # Received: the seven-day return is open for it as for a shipped one.
    assert (await ask(client, buyer, order_id)).status_code == 201

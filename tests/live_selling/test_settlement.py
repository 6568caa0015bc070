"""The settlement of received live orders (docs/live.md "Settlement"): the receipt (the buyer's
confirmation, the automatic one, the hand-over at the pickup point) moves the order's money
out of clearing to the merchant's payable, the platform's fee (rule `live.platform_fee`) and,
at a hand-over, the point leader's commission; exactly once under races; a return afterwards
reverses the shares in proportion through the ledger, as group buying does."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.live import fulfilment, settlement
from linli.live.models import LiveCommission, LiveOrder
from linli.live.personal_data import export_live
from linli.payments import ledger
from linli.payments.models import LedgerEntry
from linli.protection.return_models import ReturnRequest
from tests.factories import login
from tests.groupbuy.helpers import residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import LIVE, a_studio
from tests.live_selling.test_fulfilment import RETURNS, ask, audited, bought, mine, ship
from tests.live_selling.test_uncollected import POINTS, at_point
from tests.payments.helpers import balances

FEE_BP = 200  # live.platform_fee v1


async def entries(app: FastAPI, kind: str) -> list[str]:
    async with app.state.sessionmaker() as s:
        return list(
            await s.scalars(
                select(LedgerEntry.reference)
                .where(LedgerEntry.kind == kind)
                .order_by(LedgerEntry.id)
            )
        )


async def order_row(app: FastAPI, order_id: int) -> LiveOrder:
    s: AsyncSession
    async with app.state.sessionmaker() as s:
        row = await s.get(LiveOrder, order_id)
    assert row is not None
    return row


async def commissions(app: FastAPI) -> list[tuple[int, str, int, int, int]]:
    async with app.state.sessionmaker() as s:
        rows = (await s.scalars(select(LiveCommission).order_by(LiveCommission.id))).all()
    return [(r.leader_user_id, r.kind, r.base_fen, r.rate_bp, r.amount_fen) for r in rows]


async def test_a_confirmed_shipped_order_is_settled_once_to_the_merchant_and_the_platform(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=990)
    (buyer,) = await residents(session, 1)
    order = await bought(client, settings, studio, buyer, quantity=3)  # 29.70
    await app.state.dispatcher.run_once()
    merchant = ledger.merchant_payable(studio.shop.organisation.id)
    paid = await balances(app)
    assert paid[ledger.CLEARING] == -2970  # paid, held in clearing, owed to nobody yet
    assert paid.get(merchant, 0) == 0
    assert (await ship(client, studio, order["id"])).status_code == 200
    assert await entries(app, "settlement") == []  # shipped is not received
    received = await client.post(f"{LIVE}/orders/{order['id']}/receive", headers=buyer.headers)
    assert received.status_code == 200, received.text
    after = await balances(app)
    fee = 2970 * FEE_BP // 10_000  # 59
    assert after[ledger.CLEARING] == 0
    assert after[merchant] == -(2970 - fee)
    assert after[ledger.PLATFORM_REVENUE] == -fee
    assert not any(code.startswith("leader:") for code in after)
    assert await entries(app, "settlement") == [f"live-order-{order['id']}"]
    row = await order_row(app, order["id"])
    assert (row.settled_fen, row.platform_fee_bp, row.commission_bp) == (2970, FEE_BP, 0)
    assert row.commission_leader_user_id is None
    (settled,) = await audited(app, "live.order_settled")
    assert (settled.details["merchant_fen"], settled.details["rule_id"]) == (
        2970 - fee,
        "live.platform_fee",
    )
    # The merchant's payable shows it where group buying's does.
    shown = await client.get("/api/v1/payments/merchant/balance", headers=studio.shop.headers)
    assert shown.json()["payable_fen"] == 2970 - fee, shown.text
    # Confirmed again: 409, nothing booked twice; settling again books nothing.
    again = await client.post(f"{LIVE}/orders/{order['id']}/receive", headers=buyer.headers)
    assert again.status_code == 409
    async with app.state.sessionmaker() as s:
        assert await settlement.settle_received(s, order["id"]) is None
        await s.commit()
    assert await entries(app, "settlement") == [f"live-order-{order['id']}"]
    assert await balances(app) == after


async def test_the_automatic_receipt_settles_and_races_the_buyers_confirmation_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=1000)
    (buyer,) = await residents(session, 1)
    lone = await bought(client, settings, studio, buyer, quantity=1)
    raced = await bought(client, settings, studio, buyer, quantity=2)
    await app.state.dispatcher.run_once()
    for order in (lone, raced):
        assert (await ship(client, studio, order["id"])).status_code == 200
    frozen_clock.advance(timedelta(days=10))

    async def job() -> bool:
        async with app.state.sessionmaker() as s:
            done = await fulfilment.auto_receive(s, raced["id"])
            await s.commit()
            return done

    confirmed, by_job = await asyncio.gather(
        client.post(f"{LIVE}/orders/{raced['id']}/receive", headers=buyer.headers), job()
    )
    assert (confirmed.status_code == 200) != by_job, confirmed.text
    # The lone order by the due job.
    await app.state.dispatcher.run_once()
    assert (await mine(client, buyer, lone["id"]))["fulfilment_status"] == "received"
    assert sorted(await entries(app, "settlement")) == sorted(
        [f"live-order-{lone['id']}", f"live-order-{raced['id']}"]
    )
    assert len(await audited(app, "live.order_settled")) == 2
    after = await balances(app)
    fee = 1000 * FEE_BP // 10_000 + 2000 * FEE_BP // 10_000
    assert after[ledger.CLEARING] == 0
    assert after[ledger.merchant_payable(studio.shop.organisation.id)] == -(3000 - fee)


async def test_a_hand_over_earns_the_points_leader_commission_itemised_for_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio, point, buyer, order = await at_point(app, client, session, settings)  # 2 × 9.90
    other = await a_led_point(session, commission_bp=500)
    code = (await mine(client, buyer, order["id"]))["pickup_code"]
    # Another leader cannot hand it over at their point, nor at this one.
    for point_id in (other.id, point.id):
        refused = await client.post(
            f"{POINTS}/{point_id}/handover", json={"code": code}, headers=other.leader.headers
        )
        assert refused.status_code == 404, refused.text
    assert await entries(app, "settlement") == []
    handed = await client.post(
        f"{POINTS}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
    )
    assert handed.status_code == 200, handed.text
    leader = point.leader.user.id
    total = order["total_fen"]  # 1980
    commission = total * 1000 // 10_000  # the point's 10 %: 198
    fee = total * FEE_BP // 10_000  # 39
    after = await balances(app)
    assert after[ledger.leader_commission(leader)] == -commission
    assert after[ledger.PLATFORM_REVENUE] == -fee
    assert after[ledger.merchant_payable(studio.shop.organisation.id)] == -(
        total - commission - fee
    )
    assert after[ledger.CLEARING] == 0
    assert await commissions(app) == [(leader, "accrual", total, 1000, commission)]
    row = await order_row(app, order["id"])
    assert (row.commission_leader_user_id, row.commission_bp) == (leader, 1000)
    async with app.state.sessionmaker() as s:
        exported = await export_live(s, leader)  # the leader's PIPL export has it
    assert [(c["kind"], c["amount_fen"]) for c in exported["leader_commissions"]] == [
        ("accrual", commission)
    ]
    # The leader's API itemises it; another leader has none; a resident's token is refused.
    mine_ = await client.get(f"{LIVE}/leader/commissions", headers=point.leader.headers)
    assert mine_.status_code == 200, mine_.text
    body = mine_.json()
    assert (body["accrued_fen"], body["reversed_fen"], body["net_fen"]) == (commission, 0, 198)
    assert [(i["order_id"], i["kind"], i["amount_fen"]) for i in body["items"]] == [
        (order["id"], "accrual", commission)
    ]
    theirs = await client.get(f"{LIVE}/leader/commissions", headers=other.leader.headers)
    assert theirs.json() == {"accrued_fen": 0, "reversed_fen": 0, "net_fen": 0, "items": []}
    assert (
        await client.get(f"{LIVE}/leader/commissions", headers=buyer.headers)
    ).status_code == 403
    # The leader's page lists it, in both languages; the other leader's page does not.
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as mine_c,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as theirs_c,
    ):
        await login(mine_c, point.leader.user)
        await login(theirs_c, other.leader.user)
        for lang, title in (("en", "My commission on live orders"), ("zh-CN", "我的直播佣金")):
            page = await mine_c.get("/leader/live-orders", headers={"Accept-Language": lang})
            assert page.status_code == 200
            assert title in page.text
            assert 'data-kind="accrual"' in page.text
            assert "¥1.98" in page.text
            elsewhere = await theirs_c.get("/leader/live-orders", headers={"Accept-Language": lang})
            assert elsewhere.status_code == 200
            assert title not in elsewhere.text


async def test_two_hand_overs_of_one_code_settle_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    _, point, buyer, order = await at_point(app, client, session, settings)
    code = (await mine(client, buyer, order["id"]))["pickup_code"]
    first, second = await asyncio.gather(
        *(
            client.post(
                f"{POINTS}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
            )
            for _ in range(2)
        )
    )
    assert sorted((first.status_code, second.status_code)) == [200, 404]
    assert await entries(app, "settlement") == [f"live-order-{order['id']}"]
    assert len(await commissions(app)) == 1
    assert (await balances(app))[ledger.CLEARING] == 0


async def return_and_refund(
    client: httpx.AsyncClient, studio: Any, buyer: Any, order_id: int, quantity: int
) -> httpx.Response:
    made = await ask(client, buyer, order_id, quantity=quantity)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    for step, json in (("answer", {"approve": True}), ("collect", {"condition": "intact"})):
        done = await client.post(f"{RETURNS}/{rid}/{step}", json=json, headers=studio.shop.headers)
        assert done.status_code == 200, done.text
    return await client.post(f"{RETURNS}/{rid}/refund", headers=studio.shop.headers)


async def test_a_return_after_the_hand_over_reverses_the_shares_in_proportion_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio, point, buyer, order = await at_point(app, client, session, settings)  # 2 × 9.90
    code = (await mine(client, buyer, order["id"]))["pickup_code"]
    handed = await client.post(
        f"{POINTS}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
    )
    assert handed.status_code == 200, handed.text
    settled = await balances(app)
    leader = ledger.leader_commission(point.leader.user.id)
    merchant = ledger.merchant_payable(studio.shop.organisation.id)
    refunded = await return_and_refund(client, studio, buyer, order["id"], 1)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded_fen"] == 990
    async with app.state.sessionmaker() as s:
        request = await s.get(ReturnRequest, refunded.json()["id"])
    assert request is not None
    assert request.commission_reversed_fen == 99  # recorded on the return, as group buying's
    again = await client.post(
        f"{RETURNS}/{refunded.json()['id']}/refund", headers=studio.shop.headers
    )
    assert again.json()["refunded_fen"] == 990
    after = await balances(app)
    # 990 back: the leader 10 % (99), the platform 2 % (19), the merchant the rest (872).
    assert after[leader] - settled[leader] == 99
    assert after[ledger.PLATFORM_REVENUE] - settled[ledger.PLATFORM_REVENUE] == 19
    assert after[merchant] - settled[merchant] == 872
    assert after[ledger.CLEARING] == 0  # reversed into clearing, refunded out of it
    assert await entries(app, "settlement_reversal") == [f"live-order-{order['id']}-return-1"]
    assert await commissions(app) == [
        (point.leader.user.id, "accrual", 1980, 1000, 198),
        (point.leader.user.id, "reversal", -990, 1000, -99),
    ]
    body = (await client.get(f"{LIVE}/leader/commissions", headers=point.leader.headers)).json()
    assert (body["accrued_fen"], body["reversed_fen"], body["net_fen"]) == (198, 99, 99)
    # The second unit too: everything the settlement booked is back to the fen (the rounding
    # remainder of the platform's 39.6 goes with the last unit: 20, not 19).
    second = await return_and_refund(client, studio, buyer, order["id"], 1)
    assert second.status_code == 200, second.text
    final = await balances(app)
    assert (final[leader], final[merchant], final[ledger.PLATFORM_REVENUE]) == (0, 0, 0)
    assert final[ledger.CLEARING] == 0


async def test_an_order_received_before_settlements_existed_is_refunded_from_clearing(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """An order received before migration 0051 was never settled: its return reverses
    nothing (the money is still in clearing) and is refunded from there."""
    studio = await a_studio(client, session, price_fen=990)
    (buyer,) = await residents(session, 1)
    order = await bought(client, settings, studio, buyer, quantity=1)
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, order["id"])).status_code == 200
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(LiveOrder)
            .where(LiveOrder.id == order["id"])
            .values(fulfilment_status="received", received_at=frozen_clock.now())
        )
        await s.commit()
    refunded = await return_and_refund(client, studio, buyer, order["id"], 1)
    assert refunded.status_code == 200, refunded.text
    assert await entries(app, "settlement_reversal") == []
    after = await balances(app)
    assert after[ledger.CLEARING] == 0
    assert after.get(ledger.merchant_payable(studio.shop.organisation.id), 0) == 0

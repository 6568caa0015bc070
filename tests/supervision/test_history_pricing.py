"""Big-data price discrimination by the buyer's history (supervision.history_pricing): real
paid orders through the OrderPaid handler; returning buyers (two earlier paid orders from the
merchant) and new buyers of one SKU within the hour. Equal prices are silent; returning buyers
paying on average exactly the rule's difference more is silent; one fen more fires, with the
orders as evidence; a repeated firing merges."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy.models import OrderLine
from linli.supervision import rule_defaults as R
from linli.supervision import rule_evaluation, rule_history
from linli.supervision.rule_models import SupervisionRuleVersion
from tests.groupbuy.helpers import live_in, residents
from tests.groupbuy.test_fulfilment import a_world, buy
from tests.supervision.world import alerts, set_rule


async def _drain(app: FastAPI) -> None:
    for _ in range(3):
        await app.state.dispatcher.run_once()


async def test_returning_buyers_charged_more_than_new_buyers_fire_just_over_the_difference(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session, stock=40)
    rice, oil = world.items
    point = world.points[0]
    people = await residents(session, 4)
    for person in people:
        await live_in(session, person.user, point.id)
    loyal = people[:2]  # the other two buy here for the first time
    for person in loyal:  # their history: two paid orders from this merchant, hours ago
        for _ in range(2):
            await buy(client, settings, person, world, [(oil, 1)], point)
    await _drain(app)
    frozen_clock.advance(timedelta(hours=3))
    now_orders = [await buy(client, settings, p, world, [(rice, 1)], point) for p in people]
    await _drain(app)
    await session.rollback()
    assert await alerts(session, R.HISTORY_PRICING) == []  # everyone at the group price

    lines = {
        line.order_id: line
        for line in await session.scalars(
            select(OrderLine).where(OrderLine.order_id.in_(now_orders))
        )
    }
    base = lines[now_orders[0]].unit_price_fen
    assert base % 100 == 0

    async def loyal_pay(price: int) -> bool:
        for order_id in now_orders[:2]:
            lines[order_id].unit_price_fen = price
        await session.commit()
        head = await rule_evaluation.paid_order(session, now_orders[0])
        assert head is not None
        fired = await rule_history.history_pricing(session, head)
        await session.commit()
        return fired

    assert not await loyal_pay(base + base // 100)  # exactly 1 % more: not over
    assert await loyal_pay(base + base // 100 + 1)
    (alert,) = await alerts(session, R.HISTORY_PRICING)
    assert alert.rule_version == 1
    assert alert.inputs["returning_buyers"] == 2
    assert alert.inputs["new_buyers"] == 2
    assert alert.inputs["new_mean_fen"] == base
    assert alert.inputs["returning_mean_fen"] == base + base // 100 + 1
    assert alert.inputs["rule"] == f"{R.HISTORY_PRICING}@CN#1"
    by_order = {e["order_id"]: e for e in alert.evidence}
    assert set(by_order) == set(now_orders)
    assert {by_order[o]["buyer"] for o in now_orders[:2]} == {"returning"}
    assert {by_order[o]["previous_orders"] for o in now_orders[:2]} == {2}
    assert {by_order[o]["buyer"] for o in now_orders[2:]} == {"new"}
    # Fired again (another order of the window): merged into the open alert, evidence once.
    assert await loyal_pay(base + base // 100 + 1)
    (merged,) = await alerts(session, R.HISTORY_PRICING)
    assert merged.count == 2
    assert len(merged.evidence) == 4

    # Just under the other thresholds: three earlier orders to count as returning, or three
    # buyers a side: silent.
    for params in ({"returning_min_orders": 3}, {"min_buyers": 3}):
        await _only_version_2(session, **params)
        head = await rule_evaluation.paid_order(session, now_orders[0])
        assert head is not None
        assert not await rule_history.history_pricing(session, head)


async def _only_version_2(session: AsyncSession, **params: object) -> None:
    await session.execute(
        delete(SupervisionRuleVersion).where(
            SupervisionRuleVersion.rule_id == R.HISTORY_PRICING, SupervisionRuleVersion.version > 1
        )
    )
    await session.commit()
    await set_rule(session, R.HISTORY_PRICING, **params)

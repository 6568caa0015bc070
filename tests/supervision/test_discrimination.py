"""Big-data price discrimination: one campaign item sold to different residents at different
unit prices within the window fires over the rule's difference, not at it. Real paid orders
go through the OrderPaid handler (equal prices: silent)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy.models import OrderLine
from linli.supervision import rule_defaults as R
from linli.supervision import rule_evaluation
from linli.supervision.alert_models import Signal
from tests.groupbuy.helpers import live_in, residents
from tests.groupbuy.test_fulfilment import a_world, buy
from tests.supervision.world import alerts


async def test_one_item_at_two_prices_to_two_residents(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world = await a_world(client, session)
    rice = world.items[0]
    point = world.points[0]
    first, second = await residents(session, 2)
    for person in (first, second):
        await live_in(session, person.user, point.id)
    one = await buy(client, settings, first, world, [(rice, 1)], point)
    two = await buy(client, settings, second, world, [(rice, 1)], point)
    await app.state.dispatcher.run_once()
    await session.rollback()
    assert await alerts(session, R.PRICE_DISCRIMINATION) == []  # both at the group price
    paid = await session.scalars(select(Signal.ref).where(Signal.kind == "order_paid"))
    assert sorted(paid.all()) == sorted([f"order:{one}", f"order:{two}"])

    line = await session.scalar(select(OrderLine).where(OrderLine.order_id == two))
    assert line is not None
    base = line.unit_price_fen
    assert base % 100 == 0
    line.unit_price_fen = base + base // 100  # 1.0 % more: not over the 1 % of the rule
    await session.commit()
    assert not await rule_evaluation.price_discrimination(session, two)
    line.unit_price_fen = base + base // 100 + 1
    await session.commit()
    assert await rule_evaluation.price_discrimination(session, two)
    await session.commit()
    (alert,) = await alerts(session, R.PRICE_DISCRIMINATION)
    assert alert.inputs["low_fen"] == base
    assert alert.inputs["high_fen"] == base + base // 100 + 1
    assert {e["order_id"] for e in alert.evidence} == {one, two}
    assert alert.count == 1

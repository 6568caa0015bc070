"""A batch of `OrderPaid` events through supervision's batch form has exactly the effects of
the events handled one by one (alerts and signals), whichever orders the screen flags: two
merchants, orders at a different price (price discrimination), a merchant whose licence has
lapsed, an event delivered long after its payment, an order that does not exist. On
PostgreSQL the batch's screens are one statement; on SQLite one per order."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.clock import FrozenClock
from linli.config import Settings
from linli.events import OrderPaid
from linli.files.models import StoredFile
from linli.groupbuy.models import OrderLine
from linli.merchants.models import Licence
from linli.outbox import OutboxEvent
from linli.supervision import rule_defaults as R
from linli.supervision import rule_handlers
from linli.supervision.alert_models import Alert, Signal
from tests.conftest import DATABASE_KIND
from tests.groupbuy.helpers import live_in, residents
from tests.groupbuy.test_fulfilment import a_world, buy


async def _lapsed_licence(session: AsyncSession, organisation_id: int, owner_id: int) -> None:
    stored = StoredFile(
        sha256="1" * 64,
        content_type="application/pdf",
        size=1,
        original_name="l.pdf",
        purpose="licence",
        public=False,
        owner_user_id=owner_id,
        owner_organisation_id=organisation_id,
        created_at=clock.now(),
    )
    session.add(stored)
    await session.flush()
    session.add(
        Licence(
            organisation_id=organisation_id,
            licence_type="food_business",
            number="JY9",
            valid_from=date(2020, 1, 1),
            valid_to=clock.now().date() - timedelta(days=400),
            file_id=stored.id,
            created_at=clock.now(),
        )
    )


async def _effects(session: AsyncSession) -> tuple[list[Any], list[Any]]:
    """The alerts (without their ids) and signals, in a comparable form."""
    alerts = [
        (
            a.rule_id,
            a.rule_version,
            a.severity,
            a.organisation_id,
            a.subject,
            a.dedupe_key,
            a.status,
            a.count,
            a.summary,
            a.inputs,
            a.evidence,
            a.first_at,
            a.last_at,
        )
        for a in await session.scalars(select(Alert).order_by(Alert.id))
    ]
    signals = sorted(
        (s.organisation_id, s.kind, s.ref, s.at) for s in await session.scalars(select(Signal))
    )
    return alerts, signals


async def test_a_batch_of_paid_orders_has_the_effects_of_handling_them_one_by_one(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    first, second = await a_world(client, session), await a_world(client, session)
    orders: dict[int, list[int]] = {}
    for world in (first, second):
        point = world.points[0]
        people = await residents(session, 3)
        for person in people:
            await live_in(session, person.user, point.id)
        orders[world.shop.organisation.id] = [
            await buy(client, settings, p, world, [(world.items[0], 1)], point) for p in people
        ]
    await app.state.dispatcher.run_once()  # the orders paid, their OrderPaid handled
    await session.execute(delete(Signal))  # as before supervision's handler ran (no alerts)
    assert not (await session.scalars(select(Alert))).all()
    stored = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == OrderPaid.event_name)
            .order_by(OutboxEvent.seq)
        )
    ).all()
    envelopes = [
        outbox.Envelope(e.event_id, e.event_type, OrderPaid.model_validate(e.payload), e.created_at)
        for e in stored
    ]
    assert len(envelopes) == 6
    # The first merchant sold one order at 10 % more (its three orders are flagged); the
    # second's licence has lapsed (its orders are flagged for the licence only).
    line = await session.scalar(
        select(OrderLine).where(OrderLine.order_id == orders[first.shop.organisation.id][1])
    )
    assert line is not None
    line.unit_price_fen += line.unit_price_fen // 10
    await _lapsed_licence(session, second.shop.organisation.id, second.shop.owner.id)
    await session.commit()
    # One event delivered long after its payment (the rules read the order), one naming no
    # order (the screen finds it unpaid).
    late = envelopes[4]
    envelopes[4] = outbox.Envelope(
        late.event_id, late.event_type, late.payload, late.created_at + timedelta(hours=2)
    )
    ghost = envelopes[0].payload.model_copy(update={"order_id": 10**9})
    envelopes.append(outbox.Envelope("ghost", envelopes[0].event_type, ghost, clock.now()))
    frozen_clock.advance(timedelta(minutes=5))

    screens: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "sku_items" in statement:
            screens.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        async with app.state.sessionmaker() as s:
            await rule_handlers.orders_paid(s, envelopes)
            await s.flush()
            batched = await _effects(s)
            await s.rollback()
        assert len(screens) == (1 if DATABASE_KIND == "postgresql" else len(envelopes))
        async with app.state.sessionmaker() as s:  # another size, the same statement
            await rule_handlers.orders_paid(s, envelopes[:2])
            await s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    if DATABASE_KIND == "postgresql":
        assert len(screens) == 2
        assert screens[0] == screens[1]

    async with app.state.sessionmaker() as s:
        for envelope in envelopes:
            await rule_handlers.order_paid(s, envelope)
        await s.flush()
        one_by_one = await _effects(s)
        await s.rollback()

    assert batched == one_by_one
    alerts, signals = batched
    fired = {(a[0], a[3]) for a in alerts}
    assert (R.PRICE_DISCRIMINATION, first.shop.organisation.id) in fired
    assert (R.PRICE_DISCRIMINATION, second.shop.organisation.id) not in fired
    assert (R.LICENCE_LAPSED, second.shop.organisation.id) in fired
    assert (R.LICENCE_LAPSED, first.shop.organisation.id) not in fired
    assert len([s for s in signals if s[1] == "order_paid"]) == len(envelopes)

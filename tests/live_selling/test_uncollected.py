"""A live pickup order left at the point (docs/live.md "Delivery"): rule `live.uncollected`
days after the leader recorded its arrival, a due job makes a still waiting order
`uncollected` and refunds what is not yet refunded of it, once (or only reports it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit.models import CreditRecord
from linli.live import fulfilment
from linli.live.models import LiveOrder
from linli.notifications.models import Notification
from linli.payments.models import PaymentRefund
from linli.rules.defaults import SINCE
from linli.rules.models import RuleVersion
from linli.rules.service import in_force
from tests.factories import login
from tests.groupbuy.helpers import Resident, live_in, pay, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import LIVE, Studio, a_studio, new_key
from tests.live_selling.test_fulfilment import audited, mine, ship
from tests.payments.helpers import balances

POINTS = f"{LIVE}/pickup-points"
DAYS = timedelta(days=3)  # live.uncollected v1


async def at_point(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> tuple[Studio, Any, Resident, dict[str, Any]]:
    """A paid pickup order of 2 units, shipped and recorded arrived at the buyer's point."""
    studio = await a_studio(client, session)
    point = await a_led_point(session)
    (buyer,) = await residents(session, 1)
    await live_in(session, buyer.user, point.id)
    placed = await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": studio.goods_id, "quantity": 2, "pickup": True},
        headers=buyer.headers | {"Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    await pay(client, settings, placed.json()["payment"])
    await app.state.dispatcher.run_once()
    order_id = placed.json()["id"]
    assert (await ship(client, studio, order_id)).status_code == 200
    arrived = await client.post(
        f"{POINTS}/{point.id}/orders/{order_id}/arrive", headers=point.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    await app.state.dispatcher.run_once()
    return studio, point, buyer, dict(placed.json())


async def refunds(app: FastAPI) -> list[tuple[int, str, str | None]]:
    async with app.state.sessionmaker() as s:
        rows = (await s.scalars(select(PaymentRefund).order_by(PaymentRefund.id))).all()
    return [(r.amount_fen, r.reason_code, r.idempotency_key) for r in rows]


async def notices(app: FastAPI, user_id: int, kind: str) -> list[Notification]:
    async with app.state.sessionmaker() as s:
        return list(
            await s.scalars(
                select(Notification).where(
                    Notification.user_id == user_id, Notification.kind == kind
                )
            )
        )


async def test_an_order_left_at_the_point_is_uncollected_and_refunded_once_at_the_deadline(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio, point, buyer, order = await at_point(app, client, session, settings)
    total = order["total_fen"]
    assert total > 0
    before = await balances(app)
    # Day 3 less a minute: the job is not due, the code still works.
    frozen_clock.advance(DAYS - timedelta(minutes=1))
    await app.state.dispatcher.run_once()
    assert (await mine(client, buyer, order["id"]))["fulfilment_status"] == "at_point"
    assert await refunds(app) == []
    # At the deadline: uncollected, the whole amount refunded once.
    frozen_clock.advance(timedelta(minutes=1))
    await app.state.dispatcher.run_once()
    seen = await mine(client, buyer, order["id"])
    assert (seen["fulfilment_status"], seen["refunded_fen"]) == ("uncollected", total)
    assert await refunds(app) == [(total, "uncollected", f"uncollected-live-{order['id']}")]
    after = await balances(app)
    assert sum(after.values()) == 0
    assert after != before
    (entry,) = await audited(app, "live.order_uncollected")
    assert entry.user_id is None  # the system
    assert (entry.details["handling"], entry.details["refunded_fen"]) == ("refund", total)
    assert entry.details["rule_id"] == "live.uncollected"
    # The code no longer works at the point.
    code = seen["pickup_code"]
    late = await client.post(
        f"{POINTS}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
    )
    assert late.status_code == 404
    # Re-running the job changes nothing: one refund, one audit, the same amount.
    async with app.state.sessionmaker() as s:
        assert await fulfilment.handle_uncollected(s, order["id"]) is False
        await s.commit()
    frozen_clock.advance(timedelta(days=1))
    await app.state.dispatcher.run_once()
    assert await refunds(app) == [(total, "uncollected", f"uncollected-live-{order['id']}")]
    assert len(await audited(app, "live.order_uncollected")) == 1
    assert (await mine(client, buyer, order["id"]))["refunded_fen"] == total
    # The buyer is told in the inbox, the merchant's owner too; credit counts it for the buyer.
    (notice,) = await notices(app, buyer.user.id, "live_order_uncollected")
    assert notice.link == "/live/orders"
    assert notice.params["order_id"] == order["id"]
    assert await notices(app, studio.shop.owner.id, "live_order_uncollected")
    async with app.state.sessionmaker() as s:
        credit = (
            await s.scalars(
                select(CreditRecord).where(
                    CreditRecord.subject_id == buyer.user.id,
                    CreditRecord.kind == "order_uncollected",
                )
            )
        ).all()
    assert [(c.subject_kind, c.reference, c.weight) for c in credit] == [
        ("resident", f"live_order:{order['id']}", -30)
    ]
    # The leader's API lists it among the uncollected, no longer among the waiting.
    listed = f"{POINTS}/{point.id}/orders"
    waiting = await client.get(listed, headers=point.leader.headers)
    assert waiting.status_code == 200, waiting.text
    assert order["id"] not in [o["id"] for o in waiting.json()]
    late = await client.get(listed, params={"state": "uncollected"}, headers=point.leader.headers)
    assert [(o["id"], o["fulfilment_status"]) for o in late.json()] == [
        (order["id"], "uncollected")
    ]
    assert "pickup_code" not in late.text
    bad = await client.get(listed, params={"state": "lost"}, headers=point.leader.headers)
    assert bad.status_code == 422
    theirs = await client.get(listed, params={"state": "uncollected"}, headers=buyer.headers)
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (
        403,
        "forbidden",
    )  # no leader scope
    # The pages say so, in both languages.
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as viewer,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as leader,
    ):
        await login(viewer, buyer.user)
        await login(leader, point.leader.user)
        for lang, words in (("en", "Not collected"), ("zh-CN", "逾期未在自提点提货")):
            page = await viewer.get("/live/orders", headers={"Accept-Language": lang})
            assert page.status_code == 200
            assert 'data-fulfilment="uncollected"' in page.text
            assert words in page.text
        for lang, words in (("en", "Not collected in time"), ("zh-CN", "逾期未提货")):
            page = await leader.get("/leader/live-orders", headers={"Accept-Language": lang})
            assert page.status_code == 200
            assert f'data-live-order="{order["id"]}"' in page.text
            assert 'data-fulfilment="uncollected"' in page.text
            assert words in page.text


async def test_a_hand_over_before_the_deadline_makes_the_job_a_no_op(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    _, point, buyer, order = await at_point(app, client, session, settings)
    frozen_clock.advance(DAYS - timedelta(minutes=1))
    code = (await mine(client, buyer, order["id"]))["pickup_code"]
    handed = await client.post(
        f"{POINTS}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
    )
    assert handed.status_code == 200, handed.text
    frozen_clock.advance(timedelta(minutes=2))
    await app.state.dispatcher.run_once()
    seen = await mine(client, buyer, order["id"])
    assert (seen["fulfilment_status"], seen["refunded_fen"]) == ("received", 0)
    assert await refunds(app) == []
    assert await audited(app, "live.order_uncollected") == []
    assert await notices(app, buyer.user.id, "live_order_uncollected") == []


async def test_the_report_action_only_reports(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    current = await in_force(session, "live.uncollected")
    assert (current.values["days"], current.values["action"]) == (3, "refund")
    session.add(
        RuleVersion(
            rule_id="live.uncollected",
            version=current.version + 1,
            jurisdiction="CN",
            title=current.title,
            legal_basis=current.legal_basis,
            effective_from=SINCE,
            effective_to=None,
            values={**current.values, "action": "report"},
            created_at=clock.now(),
        )
    )
    await session.commit()
    studio, _, buyer, order = await at_point(app, client, session, settings)
    frozen_clock.advance(DAYS)
    await app.state.dispatcher.run_once()
    seen = await mine(client, buyer, order["id"])
    assert (seen["fulfilment_status"], seen["refunded_fen"]) == ("uncollected", 0)
    assert await refunds(app) == []
    (entry,) = await audited(app, "live.order_uncollected")
    assert (entry.details["handling"], entry.details["refunded_fen"]) == ("report", 0)
    (notice,) = await notices(app, buyer.user.id, "live_order_uncollected")
    assert notice.params["amount"] == "¥0.00"
    listed = await client.get(
        f"{LIVE}/merchant/orders?state=uncollected", headers=studio.shop.headers
    )
    assert listed.status_code == 200, listed.text
    assert [o["id"] for o in listed.json()] == [order["id"]]
    async with app.state.sessionmaker() as s:
        row = await s.get(LiveOrder, order["id"])
    assert row is not None
    assert row.refunded_fen == 0


async def test_a_hand_over_racing_the_job_at_the_deadline_exactly_one_wins(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    _, point, buyer, order = await at_point(app, client, session, settings)
    code = (await mine(client, buyer, order["id"]))["pickup_code"]
    frozen_clock.advance(DAYS)

    async def job() -> bool:
        async with app.state.sessionmaker() as s:
            done = await fulfilment.handle_uncollected(s, order["id"])
            await s.commit()
            return done

    handed, by_job = await asyncio.gather(
        client.post(
            f"{POINTS}/{point.id}/handover", json={"code": code}, headers=point.leader.headers
        ),
        job(),
    )
    assert (handed.status_code == 200) != by_job, handed.text
    seen = await mine(client, buyer, order["id"])
    if by_job:
        assert handed.status_code == 404
        assert (seen["fulfilment_status"], seen["refunded_fen"]) == (
            "uncollected",
            order["total_fen"],
        )
        assert len(await refunds(app)) == 1
    else:
        assert (seen["fulfilment_status"], seen["refunded_fen"]) == ("received", 0)
        assert await refunds(app) == []
    # The due job, run after, changes nothing either way.
    await app.state.dispatcher.run_once()
    assert (await mine(client, buyer, order["id"]))["fulfilment_status"] == seen[
        "fulfilment_status"
    ]
    assert len(await audited(app, "live.order_uncollected")) == (1 if by_job else 0)

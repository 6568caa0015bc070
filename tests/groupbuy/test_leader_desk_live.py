"""One desk for the leader's hand-overs (docs/decisions.md "One desk for the leader's
hand-overs"): the group-buy pickup desk takes a live order's code at the point and hands it
over through live selling's own service; another point's leader finds and hands over
nothing; a live code is never drawn equal to a group-buy code waiting at the same point, and
if two still meet, the desk shows both and asks."""

from __future__ import annotations

import secrets

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy.models import Order
from linli.live.models import LiveOrder
from tests.groupbuy.helpers import Resident, live_in, pay, residents
from tests.groupbuy.test_fulfilment import World, a_led_point, the_whole_loop
from tests.groupbuy.test_fulfilment_pages import browser
from tests.live_selling.helpers import LIVE, Studio, a_studio, new_key
from tests.live_selling.test_fulfilment import ship


async def live_order_at(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    studio: Studio,
    buyer: Resident,
    point_id: int,
    leader_headers: dict[str, str],
) -> int:
    """A paid live pickup order of `buyer`, arrived at their point (its code drawn)."""
    placed = await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": studio.goods_id, "quantity": 1, "pickup": True},
        headers=buyer.headers | {"Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    order_id = int(placed.json()["id"])
    await pay(client, settings, placed.json()["payment"])
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, order_id)).status_code == 200
    arrived = await client.post(
        f"{LIVE}/pickup-points/{point_id}/orders/{order_id}/arrive", headers=leader_headers
    )
    assert arrived.status_code == 200, arrived.text
    return order_id


async def live_row(app: FastAPI, order_id: int) -> LiveOrder:
    async with app.state.sessionmaker() as s:
        row = await s.get(LiveOrder, order_id)
        assert isinstance(row, LiveOrder)
        return row


async def groupbuy_code(app: FastAPI, order_id: int) -> str:
    async with app.state.sessionmaker() as s:
        code = await s.scalar(select(Order.pickup_code).where(Order.id == order_id))
        assert isinstance(code, str)
        return code


async def a_busy_point(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> tuple[World, int, Studio, Resident]:
    """A point with a group-buy order waiting (its code live) and a live buyer living there."""
    world, _buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    studio = await a_studio(client, session)
    (viewer,) = await residents(session, 1)
    await live_in(session, viewer.user, world.points[0].id)
    return world, mine, studio, viewer


async def test_the_group_buy_desk_hands_over_a_live_order_by_its_code(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, _mine, studio, viewer = await a_busy_point(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    other = await a_led_point(session)
    order_id = await live_order_at(
        app, client, settings, studio, viewer, busy.id, busy.leader.headers
    )
    code = (await live_row(app, order_id)).pickup_code
    assert code is not None
    # Another point's leader: at their own point the code finds nothing; at this point they
    # lead nothing. Nothing is handed over.
    async with browser(app, other.leader.user) as (them, csrf):
        for point_id in (other.id, busy.id):
            found = await them.post(
                "/leader/pickup/find",
                data={"csrf_token": csrf, "point_id": str(point_id), "code": code},
            )
            assert found.status_code == 404, found.text
            assert f'data-found-elsewhere="live-{order_id}"' not in found.text
            handed = await them.post(
                "/leader/pickup/handover-elsewhere",
                data={"csrf_token": csrf, "point_id": str(point_id), "kind": "live", "code": code},
            )
            assert handed.status_code == 404, handed.text
    assert (await live_row(app, order_id)).fulfilment_status == "at_point"
    async with browser(app, busy.leader.user) as (leader, csrf):
        found = await leader.post(
            "/leader/pickup/find",
            data={"csrf_token": csrf, "point_id": str(busy.id), "code": f"{code[:3]} {code[3:]}"},
        )
        assert found.status_code == 200, found.text
        assert f'data-found-elsewhere="live-{order_id}"' in found.text
        assert "data-code-collision" not in found.text
        # A kind no desk knows, or group buying's own (handed over line by line): 404.
        for kind in ("nope", "groupbuy"):
            wrong = await leader.post(
                "/leader/pickup/handover-elsewhere",
                data={"csrf_token": csrf, "point_id": str(busy.id), "kind": kind, "code": code},
            )
            assert wrong.status_code == 404
        bad = await leader.post(
            "/leader/pickup/handover-elsewhere",
            data={"csrf_token": csrf, "point_id": str(busy.id), "kind": "live", "code": "12ab"},
        )
        assert bad.status_code == 422
        handed = await leader.post(
            "/leader/pickup/handover-elsewhere",
            data={"csrf_token": csrf, "point_id": str(busy.id), "kind": "live", "code": code},
        )
        assert handed.status_code == 303, handed.text
        again = await leader.post(
            "/leader/pickup/handover-elsewhere",
            data={"csrf_token": csrf, "point_id": str(busy.id), "kind": "live", "code": code},
        )
        assert again.status_code == 404  # once
    row = await live_row(app, order_id)
    assert (row.fulfilment_status, row.handed_over_by_user_id) == (
        "received",
        busy.leader.user.id,
    )
    async with app.state.sessionmaker() as s:
        audited = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "live.order_handed_over"))
        ).all()
    assert [(a.target_id, a.user_id) for a in audited] == [(str(order_id), busy.leader.user.id)]


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The codes drawn, in order (then random again)."""
    queue: list[int] = []
    real = secrets.randbelow

    def next_code(n: int) -> int:
        return queue.pop(0) if queue else real(n)

    monkeypatch.setattr(secrets, "randbelow", next_code)
    return queue


async def test_a_live_code_is_never_drawn_equal_to_a_group_buy_code_at_the_point(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    draws: list[int],
) -> None:
    world, mine, studio, viewer = await a_busy_point(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    taken = await groupbuy_code(app, mine)
    draws.extend([int(taken), 123456])  # the first draw meets the group-buy code
    order_id = await live_order_at(
        app, client, settings, studio, viewer, busy.id, busy.leader.headers
    )
    assert (await live_row(app, order_id)).pickup_code == "123456"


async def test_codes_that_still_meet_are_both_shown_and_the_leader_asks(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """Two draws at the same instant in two domains could meet (each domain's unique index
    covers its own codes only): the desk shows both orders and asks which."""
    world, mine, studio, viewer = await a_busy_point(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    order_id = await live_order_at(
        app, client, settings, studio, viewer, busy.id, busy.leader.headers
    )
    shared = await groupbuy_code(app, mine)
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(LiveOrder).where(LiveOrder.id == order_id).values(pickup_code=shared)
        )
        await s.commit()
    async with browser(app, busy.leader.user) as (leader, csrf):
        found = await leader.post(
            "/leader/pickup/find",
            data={"csrf_token": csrf, "point_id": str(busy.id), "code": shared},
        )
        assert found.status_code == 200, found.text
        assert f'data-found-order="{mine}"' in found.text
        assert f'data-found-elsewhere="live-{order_id}"' in found.text
        assert "data-code-collision" in found.text
        zh = await leader.post(
            "/leader/pickup/find",
            data={"csrf_token": csrf, "point_id": str(busy.id), "code": shared},
            headers={"Accept-Language": "zh-CN"},
        )
        assert "直播订单" in zh.text
    # Nothing moved by finding.
    assert (await live_row(app, order_id)).fulfilment_status == "at_point"

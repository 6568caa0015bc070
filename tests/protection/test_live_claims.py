"""Quality claims of live orders from the outside (docs/protection-claims.md "Live orders"):
the windows run from the live order's receipt (47 h accepted / 49 h refused for fresh
produce, the defect days), a resident claims only their own received order, a merchant
decides only its own claims, two claims or a claim and a return never cover the same units,
two decisions refund once through payments (reason `quality_claim`) with the books balanced,
escalation and the platform as for group buying, credit counts the decision."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit.models import CreditRecord
from linli.live import lines as live_lines
from linli.live.models import LiveGoods, LiveOrder
from linli.notifications.models import Notification
from linli.payments.models import PaymentRefund
from linli.protection.claim_models import QualityClaim
from tests.factories import png_bytes
from tests.groupbuy.helpers import Resident, a_shop, count, live_in, pay, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.groupbuy.test_fulfilment_pages import browser
from tests.live_selling.helpers import LIVE, Studio, a_studio, new_key
from tests.live_selling.test_fulfilment import RETURNS, ask, bought, received_order, ship
from tests.payments.helpers import balances
from tests.protection.helpers import CLAIMS
from tests.protection.test_claims import decide, operator

PNG = ("spoiled.png", png_bytes(), "image/png")


async def photo(client: httpx.AsyncClient, who: Resident, order_id: int) -> httpx.Response:
    return await client.post(
        f"{CLAIMS}/photos",
        data={"live_order_id": str(order_id)},
        files={"file": PNG},
        headers=who.headers,
    )


async def claim(
    client: httpx.AsyncClient,
    who: Resident,
    order_id: int,
    quantity: int = 1,
    *,
    reason: str = "defective",
    amount_fen: int | None = None,
    photos: list[int] | None = None,
) -> httpx.Response:
    """A claim on a live order with one fresh photo (unless `photos` says otherwise)."""
    if photos is None:
        uploaded = await photo(client, who, order_id)
        assert uploaded.status_code == 201, uploaded.text
        photos = [uploaded.json()["id"]]
    payload: dict[str, Any] = {
        "live_order_id": order_id,
        "quantity": quantity,
        "reason_code": reason,
        "description": "苹果烂了",
        "photo_file_ids": photos,
    }
    if amount_fen is not None:
        payload["amount_fen"] = amount_fen
    return await client.post(CLAIMS, json=payload, headers=who.headers)


async def fresh(app: FastAPI, studio: Studio) -> None:
    """The room's goods are fresh produce by the rule's classification (category)."""
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(LiveGoods)
            .where(LiveGoods.id == studio.goods_id)
            .values(category_codes=["fresh_food", "food"])
        )
        await s.commit()


async def claim_rows(app: FastAPI) -> list[QualityClaim]:
    async with app.state.sessionmaker() as s:
        return list((await s.scalars(select(QualityClaim).order_by(QualityClaim.id))).all())


async def order_row(app: FastAPI, order_id: int) -> LiveOrder:
    async with app.state.sessionmaker() as s:
        order = await s.get(LiveOrder, order_id)
        assert isinstance(order, LiveOrder)
        return order


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_the_windows_run_from_the_live_orders_receipt(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    (buyer,) = await residents(session, 1)
    unreceived = await bought(client, settings, studio, buyer, quantity=1)
    first = await received_order(app, client, settings, studio, buyer, quantity=1)
    second = await received_order(app, client, settings, studio, buyer, quantity=1)
    third = await received_order(app, client, settings, studio, buyer, quantity=2)
    received_at = (await order_row(app, first)).received_at
    assert received_at is not None
    # Not received yet: refused (also the photo), nothing stored.
    assert error(await photo(client, buyer, unreceived["id"])) == (422, "not_received")
    early = await claim(client, buyer, unreceived["id"], photos=[1])
    assert error(early) == (422, "not_received")
    # Not fresh produce: the fresh-produce reason is refused.
    not_fresh = await claim(client, buyer, first, reason="fresh_quality")
    assert error(not_fresh) == (422, "not_fresh_produce")
    await fresh(app, studio)
    frozen_clock.set(received_at + timedelta(hours=47))
    accepted = await claim(client, buyer, first, reason="fresh_quality")
    assert accepted.status_code == 201, accepted.text
    made = accepted.json()
    assert (made["live_order_id"], made["order_id"], made["order_line_id"]) == (first, None, None)
    claim_by = datetime.fromisoformat(made["claim_by"].replace("Z", "+00:00"))
    assert claim_by == received_at + timedelta(hours=48)
    frozen_clock.set(received_at + timedelta(hours=49))
    late = await claim(client, buyer, second, reason="fresh_quality")
    assert error(late) == (422, "claim_window_closed")
    assert "live_order_id" in late.json()["error"]["fields"]
    # Defective goods: the rule's 15 days, not 48 hours (nor the seven-day return window).
    defective = await claim(client, buyer, second)
    assert defective.status_code == 201, defective.text
    frozen_clock.set(received_at + timedelta(days=15, hours=-1))
    assert (await claim(client, buyer, third)).status_code == 201
    frozen_clock.set(received_at + timedelta(days=15, hours=1))
    assert error(await claim(client, buyer, third)) == (422, "claim_window_closed")
    assert len(await claim_rows(app)) == 3


async def test_a_pickup_orders_claim_runs_from_the_hand_over_and_names_its_community(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    await fresh(app, studio)
    point = await a_led_point(session)
    (buyer,) = await residents(session, 1)
    await live_in(session, buyer.user, point.id)
    placed = await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": studio.goods_id, "quantity": 2, "pickup": True},
        headers=buyer.headers | {"Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    await pay(client, settings, placed.json()["payment"])
    await app.state.dispatcher.run_once()
    assert (await ship(client, studio, order_id)).status_code == 200
    points_api = f"{LIVE}/pickup-points/{point.id}"
    arrived = await client.post(
        f"{points_api}/orders/{order_id}/arrive", headers=point.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    # At the point, not yet handed over: nothing to claim.
    assert error(await photo(client, buyer, order_id)) == (422, "not_received")
    frozen_clock.advance(timedelta(hours=5))
    code = (await client.get(f"{LIVE}/orders/{order_id}", headers=buyer.headers)).json()[
        "pickup_code"
    ]
    handed = await client.post(
        f"{points_api}/handover", json={"code": code}, headers=point.leader.headers
    )
    assert handed.status_code == 200, handed.text
    handed_at = frozen_clock.now()
    frozen_clock.advance(timedelta(hours=47, minutes=59))
    made = await claim(client, buyer, order_id, reason="fresh_quality")
    assert made.status_code == 201, made.text
    (row,) = await claim_rows(app)
    assert row.picked_up_at == handed_at
    assert row.pickup_point_id == point.id
    assert row.community_id is not None


async def test_only_the_buyer_claims_and_only_its_merchant_decides(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=990)
    rival = await a_shop(client, session, name="别家水果")
    buyer, neighbour = await residents(session, 2)
    order_id = await received_order(app, client, settings, studio, buyer, quantity=3)
    # Another resident: 404 for the photo and the claim (as for a missing order); nothing kept.
    assert error(await photo(client, neighbour, order_id)) == (404, "live_order_not_found")
    theirs = await claim(client, neighbour, order_id, photos=[1])
    assert error(theirs) == (404, "live_order_not_found")
    assert await claim_rows(app) == []
    # Both sources, or none: refused.
    both = await client.post(
        f"{CLAIMS}/photos",
        data={"live_order_id": str(order_id), "line_id": "1"},
        files={"file": PNG},
        headers=buyer.headers,
    )
    assert error(both) == (422, "one_source")
    none = await client.post(
        CLAIMS,
        json={"quantity": 1, "reason_code": "defective", "description": "x", "photo_file_ids": [1]},
        headers=buyer.headers,
    )
    assert none.status_code == 422
    made = await claim(client, buyer, order_id, 2)
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert made.json()["requested_fen"] == 1980
    # The merchant's desk lists it; the rival's does not, and the rival neither reads nor
    # decides it: 404, nothing changed.
    mine = await client.get(f"{CLAIMS}/merchant", headers=studio.shop.headers)
    assert [c["id"] for c in mine.json()] == [cid]
    assert mine.json()[0]["live_order_id"] == order_id
    assert (await client.get(f"{CLAIMS}/merchant", headers=rival.headers)).json() == []
    assert (await client.get(f"{CLAIMS}/{cid}", headers=rival.headers)).status_code == 404
    assert (await client.get(f"{CLAIMS}/{cid}", headers=neighbour.headers)).status_code == 404
    for uphold in (True, False):
        refused = await decide(client, cid, rival.headers, uphold=uphold, note="不是我们的")
        assert refused.status_code == 404, refused.text
    # The buyer's and the neighbour's tokens decide nothing.
    for who in (buyer, neighbour):
        assert (await decide(client, cid, who.headers, uphold=True)).status_code == 403
    (row,) = await claim_rows(app)
    assert (row.status, row.refunded_fen) == ("filed", 0)
    assert await count(app, PaymentRefund) == 0
    assert (await order_row(app, order_id)).refunded_fen == 0
    # The merchant's owners were told; the merchant decides: refunded in part, goods kept.
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        told = set(
            await s.scalars(
                select(Notification.kind).where(Notification.user_id == studio.shop.owner.id)
            )
        )
    assert "claim_filed" in told
    upheld = await decide(client, cid, studio.shop.headers, uphold=True, amount_fen=1500)
    assert upheld.status_code == 200, upheld.text
    assert (upheld.json()["status"], upheld.json()["outcome"]) == ("refunded", "partly")
    order = await order_row(app, order_id)
    assert (order.refunded_fen, order.returned_qty) == (1500, 0)
    async with app.state.sessionmaker() as s:
        refunds = (await s.scalars(select(PaymentRefund))).all()
    assert [(r.amount_fen, r.reason_code) for r in refunds] == [(1500, "quality_claim")]
    assert sum((await balances(app)).values()) == 0
    # Credit counts the decision against the merchant, naming the claim.
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        counted = (
            await s.scalars(select(CreditRecord).where(CreditRecord.reference == f"claim:{cid}"))
        ).all()
    assert [(r.subject_id, r.kind) for r in counted] == [
        (studio.shop.organisation.id, "quality_claim_partly")
    ]


async def test_racing_claims_returns_and_decisions_refund_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=990)
    (buyer,) = await residents(session, 1)
    order_id = await received_order(app, client, settings, studio, buyer, quantity=3)
    photos = [(await photo(client, buyer, order_id)).json()["id"] for _ in range(3)]
    # Two claims for the same two units at once: one holds them, the other is refused.
    first, second = await asyncio.gather(
        claim(client, buyer, order_id, 2, photos=[photos[0]]),
        claim(client, buyer, order_id, 2, photos=[photos[1]]),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 422]
    loser = second if second.status_code == 422 else first
    assert loser.json()["error"]["code"] == "claim_exceeds_collected"
    winner = (first if first.status_code == 201 else second).json()
    # A claim and a return for the last unit at once: one of them gets it.
    claimed, returned = await asyncio.gather(
        claim(client, buyer, order_id, 1, photos=[photos[2]]), ask(client, buyer, order_id, 1)
    )
    assert sorted([claimed.status_code, returned.status_code]) == [201, 422]
    # Nothing is left: neither a return nor a claim of one more unit.
    assert (await ask(client, buyer, order_id, 1)).status_code == 422
    assert error(await claim(client, buyer, order_id, 1)) == (422, "claim_exceeds_collected")
    # Two decisions at once: one refunds, the other finds it decided.
    paid = await asyncio.gather(
        *(decide(client, winner["id"], studio.shop.headers, uphold=True) for _ in range(2))
    )
    assert sorted(p.status_code for p in paid) == [200, 409]
    # Asked again (a platform decision, the line face with the claim's key): nothing more.
    ops = await operator(session)
    again = await decide(client, winner["id"], ops, uphold=True, platform=True)
    assert error(again) == (409, "not_escalated")
    async with app.state.sessionmaker() as s, s.begin():
        repeated = await live_lines.refund_claimed_amount(
            s, order_id, 1980, note="again", key=f"claim-{winner['id']}"
        )
    assert repeated is not None
    assert repeated.amount_fen == 1980
    async with app.state.sessionmaker() as s:
        refunds = (await s.scalars(select(PaymentRefund))).all()
    assert [(r.amount_fen, r.reason_code) for r in refunds] == [(1980, "quality_claim")]
    order = await order_row(app, order_id)
    assert (order.refunded_fen, order.returned_qty) == (1980, 0)
    assert sum((await balances(app)).values()) == 0


async def test_a_rejection_goes_to_the_platform_which_refunds_through_live_selling(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=990)
    (buyer,) = await residents(session, 1)
    order_id = await received_order(app, client, settings, studio, buyer, quantity=2)
    made = (await claim(client, buyer, order_id, 2)).json()
    rejected = await decide(client, made["id"], studio.shop.headers, uphold=False, note="人为损坏")
    assert rejected.json()["status"] == "rejected", rejected.text
    # The rejection released the units: a return of one of them may be asked for meanwhile,
    # and then the escalation finds them taken.
    asked = await ask(client, buyer, order_id, 1)
    assert asked.status_code == 201, asked.text
    taken = await client.post(
        f"{CLAIMS}/{made['id']}/escalate", json={"note": "不是人为"}, headers=buyer.headers
    )
    assert error(taken) == (409, "units_not_available")
    # The merchant refuses that return: the unit is free again.
    refused = await client.post(
        f"{RETURNS}/{asked.json()['id']}/answer",
        json={"approve": False, "note": "超出范围"},
        headers=studio.shop.headers,
    )
    assert refused.json()["status"] == "rejected", refused.text
    escalated = await client.post(
        f"{CLAIMS}/{made['id']}/escalate", json={"note": "不是人为"}, headers=buyer.headers
    )
    assert escalated.json()["status"] == "escalated", escalated.text
    ops = await operator(session)
    upheld = await decide(client, made["id"], ops, uphold=True, platform=True)
    assert upheld.json()["status"] == "refunded", upheld.text
    assert (await order_row(app, order_id)).refunded_fen == 1980
    assert sum((await balances(app)).values()) == 0


async def test_the_pages_claim_from_my_live_orders_and_decide_at_the_merchants_desk(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, price_fen=990)
    rival = await a_shop(client, session, name="别家水果")
    buyer, neighbour = await residents(session, 2)
    order_id = await received_order(app, client, settings, studio, buyer, quantity=2)
    async with browser(app, neighbour.user) as (other, csrf):
        assert (await other.get(f"/claims/new-live/{order_id}")).status_code == 404
        sneaked = await other.post(
            "/claims",
            data={
                "csrf_token": csrf,
                "live_order_id": str(order_id),
                "quantity": "1",
                "reason_code": "defective",
                "description": "x",
            },
            files={"photo": PNG},
        )
        assert sneaked.status_code in (303, 404)
    assert await claim_rows(app) == []
    async with browser(app, buyer.user) as (me, csrf):
        orders = await me.get("/live/orders")
        assert f'href="/claims/new-live/{order_id}"' in orders.text
        form = await me.get(f"/claims/new-live/{order_id}")
        assert form.status_code == 200
        assert "within 48 hours" in form.text
        assert "within 15 days" in form.text
        zh = await me.get(f"/claims/new-live/{order_id}", headers={"Accept-Language": "zh-CN"})
        assert "质量" in zh.text
        filed = await me.post(
            "/claims",
            data={
                "csrf_token": csrf,
                "live_order_id": str(order_id),
                "quantity": "1",
                "reason_code": "defective",
                "description": "<b>碰坏了</b>",
                "amount": "5.00",
            },
            files={"photo": PNG},
        )
        assert filed.status_code == 303, filed.text
        assert filed.headers["location"] == "/claims"
        mine = await me.get("/claims")
        assert f'data-live-order="{order_id}"' in mine.text
        assert "&lt;b&gt;碰坏了&lt;/b&gt;" in mine.text
    (made,) = await claim_rows(app)
    assert (made.live_order_id, made.requested_fen) == (order_id, 500)
    async with browser(app, rival.owner, rival.organisation) as (them, csrf):
        assert f'data-claim="{made.id}"' not in (await them.get("/merchant/claims")).text
        tried = await them.post(
            f"/merchant/claims/{made.id}/decide", data={"csrf_token": csrf, "uphold": "1"}
        )
        assert tried.status_code == 404
    assert (await claim_rows(app))[0].status == "filed"
    shop = studio.shop
    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        desk = await merchant.get("/merchant/claims")
        assert f'data-claim="{made.id}"' in desk.text
        assert f'data-live-order="{order_id}"' in desk.text
        decided = await merchant.post(
            f"/merchant/claims/{made.id}/decide", data={"csrf_token": csrf, "uphold": "1"}
        )
        assert decided.status_code == 303
    (row,) = await claim_rows(app)
    assert (row.status, row.refunded_fen) == ("refunded", 500)
    assert (await order_row(app, order_id)).refunded_fen == 500

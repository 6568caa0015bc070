"""Checkout: idempotency, per-resident limit, return terms, scoping, expiry, late payment."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.event import listen, remove
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.events import OrderPaid, PaymentSucceeded
from linli.groupbuy import orders
from linli.groupbuy.models import Order, OrderLine, ResidentQuota
from linli.outbox import OutboxEvent
from linli.payments.models import PaymentIntent, PaymentRefund
from tests.groupbuy.helpers import (
    ORDERS,
    Resident,
    a_pickup_point,
    a_shop,
    count,
    item,
    listed_sku,
    live_in,
    new_key,
    order,
    pay,
    published_campaign,
    remaining,
    residents,
)
from tests.payments.helpers import balances


async def a_campaign(
    client: httpx.AsyncClient, session: AsyncSession, *, fresh: bool = False, **item_fields: Any
) -> tuple[dict[str, Any], int]:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop, fresh=fresh)
    campaign = await published_campaign(client, shop, item(sku, **item_fields))
    return campaign, campaign["items"][0]["id"]


async def intent_status(app: FastAPI, public_id: str) -> PaymentIntent:
    async with app.state.sessionmaker() as s:
        row = await s.scalar(select(PaymentIntent).where(PaymentIntent.public_id == public_id))
    assert isinstance(row, PaymentIntent)
    return row


async def order_row(app: FastAPI, order_id: int) -> Order:
    async with app.state.sessionmaker() as s:
        row = await s.get(Order, order_id)
    assert isinstance(row, Order)
    return row


async def quota(app: FastAPI, resident: Resident, item_id: int) -> int:
    async with app.state.sessionmaker() as s:
        held = await s.scalar(
            select(ResidentQuota.quantity).where(
                ResidentQuota.user_id == resident.user.id, ResidentQuota.item_id == item_id
            )
        )
    return int(held or 0)


async def test_an_order_reserves_stock_and_gets_a_payment_that_marks_it_paid(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=10)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    await live_in(session, resident.user, point)

    placed = await order(client, resident, campaign["id"], [(item_id, 2)])

    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["order"]["status"] == "pending_payment"
    assert body["order"]["pickup_point_id"] == point  # the residence's point by default
    assert body["order"]["total_fen"] == 3000
    assert body["order"]["return_rule_id"] == "consumer.no_reason_return"
    assert body["order"]["lines"][0]["no_reason_return_excluded"] is False
    payment = body["payment"]
    assert payment["amount_fen"] == 3000
    assert payment["pay_url"] == f"/pay/{payment['public_id']}"
    assert await remaining(app, item_id) == 8
    intent = await intent_status(app, payment["public_id"])
    assert (intent.purpose, intent.reference) == ("groupbuy_order", str(body["order"]["id"]))
    assert intent.payee_organisation_id == campaign["organisation_id"]

    await pay(client, settings, payment)
    await app.state.dispatcher.run_once()

    assert (await order_row(app, body["order"]["id"])).status == "paid"
    paid_events = await count(app, OutboxEvent, OutboxEvent.event_type == "groupbuy.OrderPaid")
    assert paid_events == 1
    seen = await client.get(f"{ORDERS}/{body['order']['id']}", headers=resident.headers)
    assert seen.json()["order"]["status"] == "paid"
    assert seen.json()["payment"]["status"] == "succeeded"
    assert (await balances(app))["cash:sandbox"] == 3000


async def test_the_same_key_returns_the_same_order_also_when_racing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=10, per_resident_limit=5)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    key = new_key()
    first = await order(client, resident, campaign["id"], [(item_id, 1)], key=key, point_id=point)
    again = await order(client, resident, campaign["id"], [(item_id, 1)], key=key, point_id=point)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert again.json()["payment"]["public_id"] == first.json()["payment"]["public_id"]
    other_body = await order(
        client, resident, campaign["id"], [(item_id, 2)], key=key, point_id=point
    )
    assert other_body.status_code == 409
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert await remaining(app, item_id) == 9

    race_key = new_key()
    (other,) = await residents(session, 1)
    results = await asyncio.gather(
        *(
            order(client, other, campaign["id"], [(item_id, 1)], key=race_key, point_id=point)
            for _ in range(4)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 201], [r.text for r in results]
    assert len({r.json()["order"]["id"] for r in results}) == 1
    assert await remaining(app, item_id) == 8
    assert await count(app, Order) == 2
    assert await count(app, PaymentIntent) == 2


async def test_the_per_resident_limit_counts_unpaid_and_paid_orders(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=10, per_resident_limit=3)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    too_many = await order(client, resident, campaign["id"], [(item_id, 4)], point_id=point)
    assert too_many.status_code == 409
    assert too_many.json()["error"]["code"] == "limit_exceeded"
    first = await order(client, resident, campaign["id"], [(item_id, 2)], point_id=point)
    assert first.status_code == 201
    # A second unpaid order in the same campaign is fine, within the limit.
    second = await order(client, resident, campaign["id"], [(item_id, 1)], point_id=point)
    assert second.status_code == 201, second.text
    await pay(client, settings, first.json()["payment"])
    await app.state.dispatcher.run_once()
    over = await order(client, resident, campaign["id"], [(item_id, 1)], point_id=point)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "limit_exceeded"
    assert over.json()["error"]["fields"] == {
        "lines.0.quantity": "More than each resident may buy."
    }
    assert await remaining(app, item_id) == 7
    assert await quota(app, resident, item_id) == 3

    # The unpaid order expires: its unit goes back to the stock and to the resident's quota.
    frozen_clock.advance(timedelta(minutes=16))
    await app.state.dispatcher.run_once()
    assert (await order_row(app, second.json()["order"]["id"])).status == "cancelled"
    assert (await order_row(app, first.json()["order"]["id"])).status == "paid"
    assert await quota(app, resident, item_id) == 2
    last = await order(client, resident, campaign["id"], [(item_id, 1)], point_id=point)
    assert last.status_code == 201, last.text
    assert await remaining(app, item_id) == 7
    assert await quota(app, resident, item_id) == 3


async def test_one_resident_racing_never_exceeds_the_limit(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=50, per_resident_limit=5)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)

    quantities = [1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1]
    results = await asyncio.gather(
        *(
            order(client, resident, campaign["id"], [(item_id, q)], point_id=point)
            for q in quantities
        )
    )

    placed = [q for q, r in zip(quantities, results, strict=True) if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert {(r.status_code, r.json()["error"]["code"]) for r in refused} == {
        (409, "limit_exceeded")
    }, [r.text for r in refused]
    assert sum(placed) == 5  # ten orders of 1: whatever the order of arrival, the limit fills
    assert await quota(app, resident, item_id) == sum(placed)
    assert await remaining(app, item_id) == 50 - sum(placed)
    assert await count(app, Order) == len(placed)
    assert await count(app, PaymentIntent) == len(placed)

    # Racing the same key with the limit reached answers the one order, never "over the limit".
    (other,) = await residents(session, 1)
    campaign2, item2 = await a_campaign(client, session, stock=10, per_resident_limit=1)
    key = new_key()
    raced = await asyncio.gather(
        *(
            order(client, other, campaign2["id"], [(item2, 1)], key=key, point_id=point)
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in raced) == [200, 200, 200, 201], [r.text for r in raced]
    assert len({r.json()["order"]["id"] for r in raced}) == 1
    assert await quota(app, other, item2) == 1


async def test_fresh_food_needs_the_return_terms_confirmed(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id = await a_campaign(client, session, fresh=True, stock=5)
    policy = campaign["items"][0]["return_policy"]
    assert policy["no_reason_return"] is False
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    refused = await order(client, resident, campaign["id"], [(item_id, 1)], point_id=point)
    assert refused.status_code == 422
    assert "accept_return_terms" in refused.json()["error"]["fields"]
    assert await remaining(app, item_id) == 5
    assert await count(app, Order) == 0
    accepted = await order(
        client, resident, campaign["id"], [(item_id, 1)], point_id=point, accept=True
    )
    assert accepted.status_code == 201, accepted.text
    placed = accepted.json()["order"]
    assert placed["return_terms_accepted"] is True
    assert placed["lines"][0]["no_reason_return_excluded"] is True
    assert (placed["return_rule_id"], placed["return_rule_version"]) == (
        "consumer.no_reason_return",
        2,  # the version in force when the campaign was published
    )


async def test_orders_are_scoped_to_their_resident_and_merchant(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku))
    item_id = campaign["items"][0]["id"]
    point = await a_pickup_point(session)
    owner_of, stranger = await residents(session, 2)
    placed = await order(client, owner_of, campaign["id"], [(item_id, 1)], point_id=point)
    order_id = placed.json()["order"]["id"]
    assert (await client.get(f"{ORDERS}/{order_id}", headers=owner_of.headers)).status_code == 200
    assert (await client.get(f"{ORDERS}/{order_id}", headers=stranger.headers)).status_code == 404
    assert (await client.get(ORDERS, headers=stranger.headers)).json() == []
    merchant = await client.get(f"{ORDERS}/{order_id}", headers=shop.headers)
    assert merchant.status_code == 200
    listing = await client.get(
        "/api/v1/groupbuy/merchant/orders",
        params={"campaign_id": campaign["id"]},
        headers=shop.headers,
    )
    assert [o["order"]["id"] for o in listing.json()] == [order_id]
    other_shop = await a_shop(client, session, name="别家")
    assert (await client.get(f"{ORDERS}/{order_id}", headers=other_shop.headers)).status_code == 404


async def test_order_inputs_never_cause_a_server_error(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id = await a_campaign(client, session)
    (resident,) = await residents(session, 1)
    no_point = await order(client, resident, campaign["id"], [(item_id, 1)])
    assert no_point.status_code == 422
    assert "pickup_point_id" in no_point.json()["error"]["fields"]
    bad_point = await order(client, resident, campaign["id"], [(item_id, 1)], point_id=10**9)
    assert bad_point.status_code == 422
    point = await a_pickup_point(session)
    unknown_item = await order(client, resident, campaign["id"], [(10**9, 1)], point_id=point)
    assert unknown_item.status_code == 422
    wrong_campaign = await order(client, resident, 10**9, [(item_id, 1)], point_id=point)
    assert wrong_campaign.status_code == 422
    body = {"campaign_id": campaign["id"], "lines": [{"item_id": item_id, "quantity": 1}]}
    for key in (None, "short", "x" * 65, "has space key", "密钥密钥密钥密钥".encode()):
        headers = {k.encode(): v.encode() for k, v in resident.headers.items()}
        if key is not None:
            headers[b"Idempotency-Key"] = key if isinstance(key, bytes) else key.encode()
        response = await client.post(ORDERS, json=body, headers=headers)
        assert response.status_code == 422, (key, response.text)
    for bad in (
        {**body, "lines": []},
        {**body, "lines": [{"item_id": item_id, "quantity": 0}]},
        {**body, "lines": [{"item_id": item_id, "quantity": 1}] * 2},
        {**body, "campaign_id": 2**64},
        {**body, "accept_return_terms": "yes"},
        {**body, "extra": 1},
    ):
        response = await client.post(
            ORDERS, json=bad, headers=resident.headers | {"Idempotency-Key": new_key()}
        )
        assert response.status_code == 422, (bad, response.text)
    anonymous = await client.post(ORDERS, json=body, headers={"Idempotency-Key": new_key()})
    assert anonymous.status_code == 401


async def test_unpaid_orders_expire_release_stock_and_cancel_the_intent(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=5)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    placed = (await order(client, resident, campaign["id"], [(item_id, 2)], point_id=point)).json()
    assert await remaining(app, item_id) == 3
    frozen_clock.advance(timedelta(minutes=14))
    await app.state.dispatcher.run_once()
    assert (await order_row(app, placed["order"]["id"])).status == "pending_payment"

    frozen_clock.advance(timedelta(minutes=2))
    await app.state.dispatcher.run_once()

    expired = await order_row(app, placed["order"]["id"])
    assert (expired.status, expired.cancel_reason) == ("cancelled", "payment_timeout")
    assert await remaining(app, item_id) == 5
    assert (await intent_status(app, placed["payment"]["public_id"])).status == "cancelled"
    # A payment arriving now is acknowledged by payments and books nothing.
    await pay(client, settings, placed["payment"])
    await app.state.dispatcher.run_once()
    assert (await order_row(app, placed["order"]["id"])).status == "cancelled"
    assert await remaining(app, item_id) == 5
    # The resident can order again (their quota was given back with the stock).
    assert await quota(app, resident, item_id) == 0
    again = await order(client, resident, campaign["id"], [(item_id, 1)], point_id=point)
    assert again.status_code == 201


async def test_a_payment_that_lands_after_the_order_expired_is_refunded(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=5)
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    placed = (await order(client, resident, campaign["id"], [(item_id, 1)], point_id=point)).json()
    await pay(client, settings, placed["payment"])  # applied, but not yet handled...
    intent_id = (await intent_status(app, placed["payment"]["public_id"])).id
    frozen_clock.advance(timedelta(minutes=16))
    async with app.state.sessionmaker() as s, s.begin():  # ...when the expiry job runs first
        assert await orders.expire_order(s, placed["order"]["id"], intent_id) is True

    await app.state.dispatcher.run_once()

    row = await order_row(app, placed["order"]["id"])
    assert row.status == "cancelled"
    intent = await intent_status(app, placed["payment"]["public_id"])
    assert (intent.status, intent.refunded_fen) == ("succeeded", intent.amount_fen)
    assert await count(app, PaymentRefund, PaymentRefund.status == "succeeded") == 1
    assert await count(app, PaymentRefund, PaymentRefund.reason_code == "payment_expired") == 1
    accounts = await balances(app)  # the books balance
    assert accounts["cash:sandbox"] == 0
    assert await remaining(app, item_id) == 5
    assert await count(app, OrderLine) == 1


async def test_a_batch_of_payments_pays_the_payable_orders_and_refunds_the_expired_one(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """The dispatcher's batch form: the payable orders paid by one UPDATE, an OrderPaid each;
    the order that expired meanwhile refunded as alone; run again, nothing more happens."""
    campaign, item_id = await a_campaign(client, session, stock=5)
    point = await a_pickup_point(session)
    people = await residents(session, 3)
    placed = [
        (await order(client, r, campaign["id"], [(item_id, 1)], point_id=point)).json()
        for r in people
    ]
    for p in placed:
        await pay(client, settings, p["payment"])
    late = placed[1]
    frozen_clock.advance(timedelta(minutes=16))
    async with app.state.sessionmaker() as s, s.begin():
        intent_id = (await intent_status(app, late["payment"]["public_id"])).id
        assert await orders.expire_order(s, late["order"]["id"], intent_id) is True
    updates: list[str] = []

    def note(*args: Any) -> None:
        if str(args[2]).startswith("UPDATE groupbuy_orders SET status") and "paid_at" in args[2]:
            updates.append(str(args[2]))

    listen(app.state.engine.sync_engine, "before_cursor_execute", note)
    try:
        await app.state.dispatcher.run_once()
    finally:
        remove(app.state.engine.sync_engine, "before_cursor_execute", note)

    # One UPDATE paying the batch, and the expired order's own try on its way to the refund
    # (the due expiry jobs, which run after the events, find the others paid).
    assert len(updates) == 2
    statuses = [(await order_row(app, p["order"]["id"])).status for p in placed]
    assert statuses == ["paid", "cancelled", "paid"]
    refunded = await intent_status(app, late["payment"]["public_id"])
    assert refunded.refunded_fen == refunded.amount_fen > 0
    assert await count(app, PaymentRefund, PaymentRefund.reason_code == "payment_expired") == 1
    paid_events = await order_paid_events(app)
    assert sorted(e["order_id"] for e in paid_events) == sorted(
        placed[i]["order"]["id"] for i in (0, 2)
    )
    intents = {
        p["order"]["id"]: (await intent_status(app, p["payment"]["public_id"])).id for p in placed
    }
    assert all(e["intent_id"] == intents[e["order_id"]] for e in paid_events)

    # Redelivered (a batch form must be as idempotent as the handler): nothing changes.
    async with app.state.sessionmaker() as s:
        succeeded = [
            PaymentSucceeded.model_validate(row.payload)
            for row in await s.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == PaymentSucceeded.event_name)
            )
        ]
    assert len(succeeded) == 3
    async with app.state.sessionmaker() as s, s.begin():
        await orders.mark_paid_many(s, succeeded)
    assert len(await order_paid_events(app)) == 2
    assert await count(app, PaymentRefund) == 1
    assert [(await order_row(app, p["order"]["id"])).status for p in placed] == statuses


async def order_paid_events(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as s:
        return [
            dict(payload)
            for payload in await s.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.event_type == OrderPaid.event_name)
            )
        ]


async def test_sold_out_orders_leave_nothing_behind(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id = await a_campaign(client, session, stock=1, per_resident_limit=1)
    point = await a_pickup_point(session)
    first, second = await residents(session, 2)
    assert (
        await order(client, first, campaign["id"], [(item_id, 1)], point_id=point)
    ).status_code == 201
    refused = await order(client, second, campaign["id"], [(item_id, 1)], point_id=point)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "sold_out"
    assert await count(app, Order) == 1
    assert await count(app, PaymentIntent) == 1

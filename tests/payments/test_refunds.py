"""Refunds: partial and full, never more than was paid (also when racing), who may refund,
and a failed group whose every fen goes back."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor
from linli.errors import Conflict
from linli.events import PaymentRefunded
from linli.groupbuy import checkout
from linli.outbox import OutboxEvent
from linli.payments import ledger, service
from linli.payments.models import PaymentRefund
from linli.payments.reasons import RefundReason
from tests.factories import make_org, make_token, make_user
from tests.payments.helpers import (
    INTENTS,
    a_merchant,
    balance,
    balances,
    bearer,
    count,
    fetch,
    intent_row,
    new_intent,
    pay,
)

SYSTEM = Actor.for_system()


async def refund(
    app: FastAPI, intent_id: int, amount: int, *, idempotency_key: str | None = None
) -> PaymentRefund:
    async with app.state.sessionmaker() as s, s.begin():
        return await service.refund(
            s,
            SYSTEM,
            intent_id,
            amount,
            "group failed",
            reason_code=RefundReason.GROUP_FAILED,
            idempotency_key=idempotency_key,
        )


async def test_partial_then_full_refund_never_exceeding_the_payment(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 1000, reference="77")
    with pytest.raises(Conflict, match="Only a paid payment"):
        await refund(app, intent.id, 1)
    await pay(client, app.state.settings, intent)

    first = await refund(app, intent.id, 300)
    assert (first.status, first.amount_fen) == ("succeeded", 300)
    assert first.provider_refund_id is not None
    with pytest.raises(Conflict) as exceeded:
        await refund(app, intent.id, 701)
    assert exceeded.value.code == "refund_exceeds_payment"
    assert exceeded.value.message.render() == "At most ¥7.00 can still be refunded."
    rest = await refund(app, intent.id, 700)
    assert rest.status == "succeeded"
    with pytest.raises(Conflict):
        await refund(app, intent.id, 1)

    row = await intent_row(app, intent.id)
    assert (row.status, row.refunded_fen) == ("succeeded", 1000)
    assert await balances(app) == {
        "cash:sandbox": 0,
        "clearing:orders": 0,
        f"resident:{payer.id}": 0,
    }
    events = await fetch(
        app,
        select(OutboxEvent.payload)
        .where(OutboxEvent.event_type == PaymentRefunded.event_name)
        .order_by(OutboxEvent.seq),
    )
    assert events == [
        {
            "refund_id": first.id,
            "intent_id": intent.id,
            "purpose": "order",
            "reference": "77",
            "amount_fen": 300,
        },
        {
            "refund_id": rest.id,
            "intent_id": intent.id,
            "purpose": "order",
            "reference": "77",
            "amount_fen": 700,
        },
    ]


async def test_an_idempotency_key_makes_a_repeated_refund_harmless(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 900)
    await pay(client, app.state.settings, intent)
    once = await refund(app, intent.id, 400, idempotency_key="order-9-member-3")
    twice = await refund(app, intent.id, 400, idempotency_key="order-9-member-3")
    assert once.id == twice.id
    assert (await intent_row(app, intent.id)).refunded_fen == 400
    with pytest.raises(Conflict):
        await refund(app, intent.id, 401, idempotency_key="order-9-member-3")


async def test_concurrent_refunds_never_exceed_the_amount(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await a_merchant(session)
    payer = await make_user(session)
    as_owner = bearer(await make_token(session, owner, organisation=shop))
    intent = await new_intent(app, payer, shop, 1000, purpose=service.DIRECT)
    await pay(client, app.state.settings, intent)
    url = f"{INTENTS}/{intent.public_id}/refunds"
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as one,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as two,
    ):
        results = await asyncio.gather(
            one.post(url, json={"amount_fen": 600, "reason": "缺货"}, headers=as_owner),
            two.post(url, json={"amount_fen": 600, "reason": "缺货"}, headers=as_owner),
            one.post(url, json={"amount_fen": 400, "reason": "缺货"}, headers=as_owner),
        )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 409], [r.text for r in results]
    row = await intent_row(app, intent.id)
    assert row.refunded_fen == 1000
    assert await count(app, PaymentRefund, PaymentRefund.status == "succeeded") == 2
    assert (await balances(app))["cash:sandbox"] == 0


async def test_who_may_refund_through_the_api(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await a_merchant(session)
    payer = await make_user(session)
    intent = await new_intent(app, payer, shop, 500, purpose=service.DIRECT)
    await pay(client, app.state.settings, intent)
    url = f"{INTENTS}/{intent.public_id}/refunds"
    refund_body = {"amount_fen": 100, "reason": "质量问题"}

    as_payer = bearer(await make_token(session, payer))
    assert (await client.post(url, json=refund_body, headers=as_payer)).status_code == 403
    stranger = await make_user(session)
    as_stranger = bearer(await make_token(session, stranger))
    assert (await client.post(url, json=refund_body, headers=as_stranger)).status_code == 404
    staff = await make_user(session)
    from tests.factories import grant

    await grant(session, shop, staff, "staff")
    as_staff = bearer(await make_token(session, staff, organisation=shop))
    assert (await client.post(url, json=refund_body, headers=as_staff)).status_code == 403
    read_only = bearer(await make_token(session, owner, organisation=shop, scopes=["org:read"]))
    assert (await client.post(url, json=refund_body, headers=read_only)).status_code == 403

    as_owner = bearer(await make_token(session, owner, organisation=shop))
    done = await client.post(url, json=refund_body, headers=as_owner)
    assert done.status_code == 201, done.text
    assert (done.json()["status"], done.json()["reason_code"]) == ("succeeded", "merchant_decision")
    admin = await make_user(session)
    platform = await make_org(session, "platform", owner=admin)
    as_admin = bearer(await make_token(session, admin, organisation=platform))
    by_platform = await client.post(url, json=refund_body, headers=as_admin)
    assert by_platform.status_code == 201
    assert by_platform.json()["reason_code"] == "platform_decision"
    for bad in ({"amount_fen": 0, "reason": "x"}, {"amount_fen": 1, "reason": ""}, {}):
        assert (await client.post(url, json=bad, headers=as_owner)).status_code == 422
    shown = await client.get(f"{INTENTS}/{intent.public_id}", headers=as_payer)
    assert shown.json()["refunded_fen"] == 200
    assert [(r["amount_fen"], r["reason_code"]) for r in shown.json()["refunds"]] == [
        (100, "merchant_decision"),
        (100, "platform_decision"),
    ]


async def test_a_payment_of_another_domain_is_refunded_only_through_that_domain(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await a_merchant(session)
    payer = await make_user(session)
    intent = await new_intent(app, payer, shop, 500, purpose=checkout.PURPOSE, reference="41")
    await pay(client, app.state.settings, intent)
    url = f"{INTENTS}/{intent.public_id}/refunds"
    refund_body = {"amount_fen": 500, "reason": "退款"}
    as_owner = bearer(await make_token(session, owner, organisation=shop))
    admin = await make_user(session)
    platform = await make_org(session, "platform", owner=admin)
    as_admin = bearer(await make_token(session, admin, organisation=platform))
    for headers in (as_owner, as_admin):
        refused = await client.post(url, json=refund_body, headers=headers)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "refund_through_owner"
        assert error["message"] == (
            "This payment belongs to groupbuy_order; refund it through "
            "POST /api/v1/groupbuy/orders/41/lines/{line_id}/refund."
        )
    assert (await intent_row(app, intent.id)).refunded_fen == 0
    assert await count(app, PaymentRefund) == 0
    other = await new_intent(app, payer, shop, 300, purpose="elsewhere")
    await pay(client, app.state.settings, other)
    unnamed = await client.post(
        f"{INTENTS}/{other.public_id}/refunds", json=refund_body, headers=as_owner
    )
    assert unnamed.status_code == 409
    assert unnamed.json()["error"]["code"] == "refund_through_owner"
    # The owning domain (as the system) still refunds it.
    done = await refund(app, intent.id, 500)
    assert done.status == "succeeded"


async def test_every_fen_of_a_failed_group_is_refunded(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A group purchase fails: the order domain refunds every member in full."""
    _owner, shop = await a_merchant(session)
    members = [await make_user(session, name=f"团员{n}") for n in range(4)]
    amounts = [1999, 1, 35050, 777]
    intents = [
        await new_intent(app, member, shop, amount, reference="group-5")
        for member, amount in zip(members, amounts, strict=True)
    ]
    for intent in intents:
        await pay(client, app.state.settings, intent)
    assert await balance(app, "cash:sandbox") == sum(amounts)
    assert await balance(app, ledger.CLEARING) == -sum(amounts)

    async with app.state.sessionmaker() as s, s.begin():
        group = await service.intents_for(s, SYSTEM, "order", "group-5")
        for intent in group:
            await service.refund(
                s,
                SYSTEM,
                intent.id,
                intent.amount_fen - intent.refunded_fen,
                "group failed",
                reason_code=RefundReason.GROUP_FAILED,
                idempotency_key="group-5-failed",
            )

    accounts = await balances(app)
    assert accounts["cash:sandbox"] == 0
    assert accounts[ledger.CLEARING] == 0
    async with app.state.sessionmaker() as s:
        for member, amount in zip(members, amounts, strict=True):
            code = ledger.resident(member.id)
            assert await ledger.balance(s, code) == 0
            # Every fen the resident paid in went back out to them.
            assert await ledger.turnover(s, code) == (2 * amount, 2 * amount)
    for intent in intents:
        assert (await intent_row(app, intent.id)).refunded_fen == intent.amount_fen

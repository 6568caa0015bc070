"""Payment intents: idempotent creation (also concurrent), who may see them, cancelling,
expiry, and inputs that must be refused without a 500."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor
from linli.clock import FrozenClock
from linli.config import Settings
from linli.errors import Conflict, Forbidden, ValidationFailed
from linli.payments import service
from linli.payments.models import PaymentIntent
from tests.factories import make_org, make_token
from tests.payments.helpers import (
    INTENTS,
    a_merchant,
    a_resident,
    bearer,
    count,
    intent_row,
    new_intent,
    pay,
    resident_actor,
)


def body(shop_id: int, key: str = "k-1", amount: int = 1999) -> dict[str, object]:
    return {
        "payee_organisation_id": shop_id,
        "amount_fen": amount,
        "reference": "水果拼团",
        "idempotency_key": key,
    }


async def test_the_same_idempotency_key_returns_the_same_intent(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, shop = await a_merchant(session)
    payer, headers = await a_resident(session)

    first = await client.post(INTENTS, json=body(shop.id), headers=headers)
    again = await client.post(INTENTS, json=body(shop.id), headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json() == again.json()
    created = first.json()
    assert created["status"] == "created"
    assert (created["purpose"], created["reference"]) == ("direct", "水果拼团")
    assert (created["amount_fen"], created["refunded_fen"]) == (1999, 0)
    assert created["payer_user_id"] == payer.id
    assert created["checkout_url"] == f"/pay/{created['public_id']}"

    reused = await client.post(INTENTS, json=body(shop.id, amount=1), headers=headers)
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    # Keys belong to a payer: another resident may use the same one.
    _other, other_headers = await a_resident(session, "王五")
    theirs = await client.post(INTENTS, json=body(shop.id), headers=other_headers)
    assert theirs.status_code == 201
    assert theirs.json()["public_id"] != created["public_id"]


async def test_concurrent_creation_with_one_key_makes_one_intent(
    app: FastAPI, session: AsyncSession
) -> None:
    _owner, shop = await a_merchant(session)
    _payer, headers = await a_resident(session)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as one,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as two,
    ):
        for n in range(3):
            first, second = await asyncio.gather(
                one.post(INTENTS, json=body(shop.id, key=f"race-{n}"), headers=headers),
                two.post(INTENTS, json=body(shop.id, key=f"race-{n}"), headers=headers),
            )
            assert (first.status_code, second.status_code) == (201, 201), second.text
            assert first.json()["public_id"] == second.json()["public_id"]
    assert await count(app, PaymentIntent) == 3


async def test_residents_see_only_their_own_intents_and_the_payee_sees_its_own(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner, shop = await a_merchant(session)
    payer, headers = await a_resident(session)
    _stranger, stranger_headers = await a_resident(session, "路人")
    created = (await client.post(INTENTS, json=body(shop.id), headers=headers)).json()
    url = f"{INTENTS}/{created['public_id']}"

    assert (await client.get(url, headers=headers)).status_code == 200
    hidden = await client.get(url, headers=stranger_headers)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "payment_not_found"
    assert (await client.get(url)).status_code == 401
    assert (await client.post(f"{url}/cancel", headers=stranger_headers)).status_code == 404
    as_owner = bearer(await make_token(session, owner, organisation=shop))
    assert (await client.get(url, headers=as_owner)).status_code == 200
    other_owner, other_shop = await a_merchant(session, "别家")
    as_other = bearer(await make_token(session, other_owner, organisation=other_shop))
    assert (await client.get(url, headers=as_other)).status_code == 404

    mine = await client.get(INTENTS, headers=headers)
    assert [i["public_id"] for i in mine.json()] == [created["public_id"]]
    assert (await client.get(INTENTS, headers=stranger_headers)).json() == []

    cancelled = await client.post(f"{url}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    twice = await client.post(f"{url}/cancel", headers=headers)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "not_cancellable"
    assert payer.id == created["payer_user_id"]


async def test_payments_go_only_to_merchants_and_bad_inputs_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, shop = await a_merchant(session)
    regulator = await make_org(session, "regulator")
    _payer, headers = await a_resident(session)
    to_regulator = await client.post(INTENTS, json=body(regulator.id), headers=headers)
    assert to_regulator.status_code == 422
    assert "payee_organisation_id" in to_regulator.json()["error"]["fields"]
    nowhere = await client.post(INTENTS, json=body(10**12), headers=headers)
    assert nowhere.status_code == 422

    nasty: list[object] = [
        {**body(shop.id), "amount_fen": 0},
        {**body(shop.id), "amount_fen": -5},
        {**body(shop.id), "amount_fen": 10**10 + 1},
        {**body(shop.id), "amount_fen": 2**64},
        {**body(shop.id), "amount_fen": 12.5},
        {**body(shop.id), "amount_fen": "12"},
        {**body(shop.id), "amount_fen": True},
        {**body(shop.id), "payee_organisation_id": 2**63},
        {**body(shop.id), "reference": ""},
        {**body(shop.id), "reference": "x\x00y"},
        {**body(shop.id), "reference": "x" * 81},
        {**body(shop.id), "idempotency_key": "k" * 81},
        {**body(shop.id), "purpose": "order"},
        {**body(shop.id), "idempotency_key": None},
        [body(shop.id)],
        "null",
    ]
    for payload in nasty:
        response = await client.post(INTENTS, json=payload, headers=headers)
        assert response.status_code == 422, (payload, response.text)
    garbage = await client.post(
        INTENTS, content=b"{\xff", headers={**headers, "Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    for path in ("not-a-uuid", "1", "%00", "x" * 500):
        response = await client.get(f"{INTENTS}/{path}", headers=headers)
        assert response.status_code == 422, (path, response.text)
    assert (await client.get(f"{INTENTS}?limit=0", headers=headers)).status_code == 422


async def test_service_checks_and_intents_for_another_domain(
    app: FastAPI, session: AsyncSession
) -> None:
    payer, shop = await a_merchant(session)
    actor = resident_actor(payer)
    async with app.state.sessionmaker() as s:
        for bad in (
            {"purpose": "Order!"},
            {"reference": "a\nb"},
            {"amount_fen": 0},
            {"idempotency_key": ""},
        ):
            arguments: dict[str, object] = {
                "payee_organisation_id": shop.id,
                "purpose": "order",
                "reference": "7",
                "amount_fen": 10,
                "idempotency_key": "k",
                **bad,
            }
            with pytest.raises(ValidationFailed):
                await service.create_intent(s, actor, **arguments)  # type: ignore[arg-type]
    first = await new_intent(app, payer, shop, 10, reference="7")
    second = await new_intent(app, payer, shop, 20, reference="7")
    await new_intent(app, payer, shop, 30, reference="8")
    async with app.state.sessionmaker() as s:
        found = await service.intents_for(s, Actor.for_system(), "order", "7")
        assert [i.id for i in found] == [first.id, second.id]
        with pytest.raises(Forbidden):
            await service.intents_for(s, actor, "order", "7")
        with pytest.raises(Conflict):
            await service.create_intent(
                s,
                actor,
                payee_organisation_id=shop.id,
                purpose="order",
                reference="7",
                amount_fen=11,
                idempotency_key=first.idempotency_key,
            )


async def test_an_unpaid_intent_expires_and_can_no_longer_be_paid(
    frozen_clock: FrozenClock, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payer, shop = await a_merchant(session)
    late = await new_intent(app, payer, shop, 100)
    paid = await new_intent(app, payer, shop, 200)
    await pay(client, app.state.settings, paid)
    dispatcher = app.state.dispatcher
    await dispatcher.run_once()
    assert (await intent_row(app, late.id)).status == "created"

    frozen_clock.advance(service.DEFAULT_EXPIRY - timedelta(seconds=1))
    await dispatcher.run_once()
    assert (await intent_row(app, late.id)).status == "created"
    frozen_clock.advance(timedelta(seconds=1))
    await dispatcher.run_once()
    expired = await intent_row(app, late.id)
    assert (expired.status, expired.closed_at) == ("expired", frozen_clock.now())
    assert (await intent_row(app, paid.id)).status == "succeeded"  # paid ones stay paid

"""The sandbox checkout: the payer's page, its CSRF-protected Pay button, and the provider's
notification delivered by real HTTP from a durable job, retried until acknowledged."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.clock import FrozenClock
from linli.outbox import DueJob
from linli.payments import providers
from linli.payments.models import PaymentCallback
from tests.factories import login, make_user
from tests.payments.helpers import (
    a_merchant,
    balances,
    fetch,
    intent_row,
    new_intent,
    outcomes,
    sandbox_in_process,
)

__all__ = ["sandbox_in_process"]


async def notify_jobs(app: FastAPI) -> list[tuple[str, int]]:
    rows = await fetch(
        app,
        select(DueJob).where(DueJob.kind == providers.SANDBOX_NOTIFY_JOB).order_by(DueJob.id),
    )
    return [(j.status, int(j.payload.get("delivery", 0))) for j in rows]


async def test_the_payer_pays_on_the_checkout_page_and_the_sandbox_notifies_the_app(
    frozen_clock: FrozenClock,
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    sandbox_in_process: None,
) -> None:
    payer, shop = await a_merchant(session, "鲜果铺")
    intent = await new_intent(app, payer, shop, 12345, reference="拼团 #9")
    await login(client, payer)
    page = await client.get(f"/pay/{intent.public_id}")
    assert page.status_code == 200
    assert "Pay ¥123.45" in page.text
    assert "鲜果铺" in page.text

    forged = await client.post(f"/pay/{intent.public_id}", data={"csrf_token": "wrong"})
    assert forged.status_code == 403
    assert await notify_jobs(app) == []

    csrf = client.cookies.get(CSRF_COOKIE)
    for _ in range(2):  # a double click schedules one notification
        sent = await client.post(f"/pay/{intent.public_id}", data={"csrf_token": csrf})
        assert sent.status_code == 303
    assert await notify_jobs(app) == [("pending", 0)]
    assert (await intent_row(app, intent.id)).status == "created"

    await app.state.dispatcher.run_once()

    assert (await intent_row(app, intent.id)).status == "succeeded"
    assert await outcomes(app) == ["applied"]
    (callback,) = await fetch(app, select(PaymentCallback))
    assert callback.signature_valid
    # Acknowledged at once: the retry stored before the request is marked done.
    assert await notify_jobs(app) == [("done", 0), ("done", 1)]
    assert (await balances(app))["cash:sandbox"] == 12345
    paid = await client.get(f"/pay/{intent.public_id}")
    assert 'data-status="succeeded"' in paid.text
    assert "Pay ¥" not in paid.text
    again = await client.post(f"/pay/{intent.public_id}", data={"csrf_token": csrf})
    assert again.status_code == 409


async def test_only_the_payer_can_open_the_checkout(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 100)
    anonymous = await client.get(f"/pay/{intent.public_id}")
    assert anonymous.status_code == 401
    stranger = await make_user(session)
    await login(client, stranger)
    assert (await client.get(f"/pay/{intent.public_id}")).status_code == 404
    csrf = client.cookies.get(CSRF_COOKIE)
    refused = await client.post(f"/pay/{intent.public_id}", data={"csrf_token": csrf})
    assert refused.status_code == 404
    assert (await client.get("/pay/not-a-uuid")).status_code == 422


async def test_notifications_are_retried_until_acknowledged(
    frozen_clock: FrozenClock,
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 250)
    await login(client, payer)
    csrf = client.cookies.get(CSRF_COOKIE)
    await client.post(f"/pay/{intent.public_id}", data={"csrf_token": csrf})

    refusals = 0

    def unavailable(request: httpx.Request) -> httpx.Response:
        nonlocal refusals
        refusals += 1
        return httpx.Response(503, json={"error": "down"})

    previous = providers.transport
    providers.transport = httpx.MockTransport(unavailable)
    try:
        dispatcher = app.state.dispatcher
        await dispatcher.run_once()
        assert refusals == 1
        assert await notify_jobs(app) == [("done", 0), ("pending", 1)]
        frozen_clock.advance(timedelta(seconds=1))
        await dispatcher.run_once()
        assert refusals == 2
        assert await notify_jobs(app) == [("done", 0), ("done", 1), ("pending", 2)]
        providers.transport = httpx.ASGITransport(app=app)
        await dispatcher.run_once()  # not due yet: backoff doubles
        assert (await intent_row(app, intent.id)).status == "created"
        frozen_clock.advance(timedelta(seconds=2))
        await dispatcher.run_once()
    finally:
        providers.transport = previous
    assert (await intent_row(app, intent.id)).status == "succeeded"
    assert await notify_jobs(app) == [("done", 0), ("done", 1), ("done", 2), ("done", 3)]
    assert await outcomes(app) == ["applied"]


async def test_an_expired_intent_cannot_be_paid_from_the_page(
    frozen_clock: FrozenClock, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 100)
    await login(client, payer)
    frozen_clock.advance(timedelta(hours=3))  # past expiry, before the expiry job ran
    csrf = client.cookies.get(CSRF_COOKIE)
    refused = await client.post(f"/pay/{intent.public_id}", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "it is expired" in refused.text
    assert (await intent_row(app, intent.id)).status == "expired"
    assert await notify_jobs(app) == []

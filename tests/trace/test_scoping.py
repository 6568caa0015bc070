"""A merchant sees and captures only its own batches and events; tokens need the scopes."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace.models import TraceCapture, TraceEvent
from tests.factories import make_token
from tests.trace.helpers import (
    BATCHES,
    CAPTURE,
    EVENTS,
    a_batch,
    a_shop,
    bearer,
    document,
    event,
    lot_event,
)


async def test_another_merchant_gets_404_and_sees_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine = await a_shop(client, session, name="我的店")
    theirs = await a_shop(client, session, name="别人的店")
    batch = await a_batch(client, mine)
    captured = await client.post(CAPTURE, json=document(lot_event()), headers=mine.headers)
    job_url = captured.headers["Location"]
    event_ids = (await session.scalars(select(TraceEvent.event_id))).all()
    assert len(event_ids) == 2

    assert (await client.get(f"{BATCHES}/{batch['id']}", headers=theirs.headers)).status_code == 404
    assert (await client.get(BATCHES, headers=theirs.headers)).json() == []
    assert (await client.get(job_url, headers=theirs.headers)).status_code == 404
    for event_id in event_ids:
        url = f"{EVENTS}/{quote(event_id, safe='')}"
        assert (await client.get(url, headers=theirs.headers)).status_code == 404
        assert (await client.get(url, headers=mine.headers)).status_code == 200
    listed = await client.get(EVENTS, headers=theirs.headers)
    assert listed.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
    verify = await client.get(
        "/api/v1/trace/verify", params={"batch_id": batch["id"]}, headers=theirs.headers
    )
    assert verify.status_code == 404
    # A batch of another organisation cannot be used for one's own batch either.
    other_sku = await client.post(
        BATCHES,
        json={"sku_id": mine.sku_id, "lot": "X", "production_date": "2024-05-01"},
        headers=theirs.headers,
    )
    assert other_sku.status_code == 404


async def test_capturing_their_lot_does_not_touch_their_batch(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine = await a_shop(client, session, name="我的店")
    theirs = await a_shop(client, session, name="别人的店")
    batch = await a_batch(client, mine)
    response = await client.post(CAPTURE, json=document(lot_event()), headers=theirs.headers)
    assert response.status_code == 202
    stored = await session.scalar(
        select(TraceEvent).where(TraceEvent.organisation_id == theirs.organisation.id)
    )
    assert stored is not None
    assert stored.batch_id is None
    verify = await client.get(
        "/api/v1/trace/verify", params={"batch_id": batch["id"]}, headers=mine.headers
    )
    assert verify.json()["links"] == 1  # only its commissioning


async def test_a_token_without_the_capture_scope_gets_403(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session, scopes=("org:read", "org:write"))
    response = await client.post(CAPTURE, json=document(event()), headers=shop.headers)
    assert response.status_code == 403
    assert "trace:capture" in response.json()["error"]["message"]
    assert (await client.get(EVENTS, headers=shop.headers)).status_code == 200  # may read
    capture_only = bearer(
        await make_token(
            session, shop.owner, organisation=shop.organisation, scopes=("trace:capture",)
        )
    )
    assert (
        await client.post(CAPTURE, json=document(event()), headers=capture_only)
    ).status_code == 202
    assert (await client.get(EVENTS, headers=capture_only)).status_code == 403
    assert len((await session.scalars(select(TraceCapture))).all()) == 1


async def test_anonymous_requests_get_401(client: httpx.AsyncClient) -> None:
    assert (await client.post(CAPTURE, json=document(event()))).status_code == 401
    assert (await client.get(EVENTS)).status_code == 401
    assert (await client.get(BATCHES)).status_code == 401
    assert (await client.get("/api/v1/trace/verify")).status_code == 401

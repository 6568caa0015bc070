"""Batches, how captured events attach to them, and the EPCIS event queries."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.trace import chains, hashing
from linli.trace.capture_checks import parse_time
from linli.trace.models import TraceBatch, TraceEvent
from tests.trace.helpers import (
    BATCHES,
    CAPTURE,
    EVENTS,
    a_batch,
    a_shop,
    document,
    event,
    lot_event,
)


def event_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    events: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


async def test_a_new_batch_is_commissioned_on_its_own_chain(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(client, shop)
    assert batch["gtin"] == "04012345123456"
    assert batch["lot"] == "998877"
    assert batch["status"] == "active"
    assert len(batch["code"]) == 16
    got = await client.get(f"{BATCHES}/{batch['id']}", headers=shop.headers)
    assert got.json() == batch
    listed = await client.get(BATCHES, headers=shop.headers)
    assert [b["id"] for b in listed.json()] == [batch["id"]]

    row = await session.get(TraceBatch, batch["id"])
    assert row is not None
    chain = await chains.chain_of(session, row)
    assert [(link.seq, e.biz_step) for link, e in chain] == [
        (1, "https://ref.gs1.org/cbv/BizStep-commissioning")
    ]
    assert chain[0][0].prev_hash == hashing.GENESIS
    actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "trace.batch.create" in actions
    assert "trace.event.record" in actions


async def test_the_same_lot_twice_is_a_conflict(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    await a_batch(client, shop)
    again = await client.post(
        BATCHES,
        json={"sku_id": shop.sku_id, "lot": "998877", "production_date": "2024-05-01"},
        headers=shop.headers,
    )
    assert again.status_code == 409


async def test_expiry_before_production_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    response = await client.post(
        BATCHES,
        json={
            "sku_id": shop.sku_id,
            "lot": "L1",
            "production_date": "2024-05-01",
            "expiry_date": "2024-04-01",
        },
        headers=shop.headers,
    )
    assert response.status_code == 422


async def test_captured_events_attach_by_lgtin_and_digital_link(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(client, shop)
    by_urn = lot_event()
    by_link = event(
        epcList=["https://id.gs1.org/01/04012345123456/10/998877/21/55"],
        eventTime="2024-05-03T08:00:00+08:00",
    )
    other_lot = lot_event("OTHER", eventTime="2024-05-04T08:00:00+08:00")
    doc = document(by_urn, by_link, other_lot)
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202

    row = await session.get(TraceBatch, batch["id"])
    assert row is not None
    chain = await chains.chain_of(session, row)
    assert [link.seq for link, _e in chain] == [1, 2, 3]
    for (link, _e), (previous, _p) in zip(chain[1:], chain, strict=False):
        assert link.prev_hash == previous.chain_hash
    moment = parse_time("2024-05-04T08:00:00+08:00")
    assert moment is not None
    unattached = await session.scalar(select(TraceEvent).where(TraceEvent.event_time == moment))
    assert unattached is not None
    assert unattached.batch_id is None
    queried = await client.get(EVENTS, params={"perPage": 10}, headers=shop.headers)
    assert len(event_list(queried)) == 4  # commissioning + 3 captured


async def test_queries_filter_like_the_rest_binding(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = document(
        event(
            eventTime="2024-05-01T08:00:00+08:00", bizStep="receiving", disposition="in_progress"
        ),
        event(eventTime="2024-05-02T08:00:00+08:00", epcList=["urn:epc:id:sgtin:4012345.012345.2"]),
        lot_event(
            eventTime="2024-05-03T08:00:00+08:00",
            bizStep="storing",
            disposition="sellable_accessible",
        ),
        event(
            type="TransactionEvent",
            action="ADD",
            eventTime="2024-05-04T08:00:00+08:00",
            bizTransactionList=[{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:1:2"}],
        ),
    )
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202

    async def times(**params: Any) -> list[str]:
        response = await client.get(EVENTS, params=params, headers=shop.headers)
        return [e["eventTime"][:10] for e in event_list(response)]

    assert await times(EQ_bizStep="receiving") == ["2024-05-01"]
    assert await times(EQ_bizStep="https://ref.gs1.org/cbv/BizStep-shipping") == [
        "2024-05-02",
        "2024-05-04",
    ]
    assert await times(EQ_disposition="in_progress|sellable_accessible") == [
        "2024-05-01",
        "2024-05-03",
    ]
    assert await times(eventType="TransactionEvent") == ["2024-05-04"]
    assert await times(
        GE_eventTime="2024-05-02T00:00:00+08:00", LT_eventTime="2024-05-04T00:00:00+08:00"
    ) == ["2024-05-02", "2024-05-03"]
    # EPC in URN or Digital Link form, and patterns
    assert await times(MATCH_epc="urn:epc:id:sgtin:4012345.012345.2") == ["2024-05-02"]
    assert await times(MATCH_epc="https://id.gs1.org/01/04012345123456/21/2") == ["2024-05-02"]
    assert await times(MATCH_epc="urn:epc:idpat:sgtin:4012345.012345.*") == [
        "2024-05-01",
        "2024-05-02",
        "2024-05-04",
    ]
    assert await times(MATCH_anyEPCClass="urn:epc:class:lgtin:4012345.012345.998877") == [
        "2024-05-03"
    ]
    assert await times(MATCH_anyEPCClass="https://id.gs1.org/01/04012345123456/10/998877") == [
        "2024-05-03"
    ]
    assert await times(MATCH_anyEPCClass="urn:epc:class:lgtin:4012345.012345.NOPE") == []


async def test_pagination_follows_the_link_header(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = document(*(event(eventTime=f"2024-05-0{d}T08:00:00+08:00") for d in range(1, 6)))
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    seen: list[str] = []
    url: str | None = f"{EVENTS}?perPage=2&EQ_bizStep=shipping"
    pages = 0
    while url:
        response = await client.get(url, headers=shop.headers)
        seen += [e["eventTime"][:10] for e in event_list(response)]
        pages += 1
        link = response.headers.get("Link")
        url = link.split(">")[0].lstrip("<") if link else None
        if url:
            assert 'rel="next"' in link
            assert "EQ_bizStep=shipping" in url
    assert pages == 3
    assert seen == [f"2024-05-0{d}" for d in range(1, 6)]


async def test_bad_query_parameters_are_400(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    for params in (
        {"GE_eventTime": "yesterday"},
        {"eventType": "NoEvent"},
        {"nextPageToken": "abc"},
    ):
        response = await client.get(EVENTS, params=params, headers=shop.headers)
        assert response.status_code == 400, (params, response.text)
    assert (
        await client.get(EVENTS, params={"perPage": 0}, headers=shop.headers)
    ).status_code == 422


async def test_one_event_by_its_id(client: httpx.AsyncClient, session: AsyncSession) -> None:
    shop = await a_shop(client, session)
    doc = document(
        event(),
        event(
            eventID="urn:uuid:6c6f2d7e-1d2e-4c5b-9a8b-0a1b2c3d4e5f",
            eventTime="2024-05-05T08:00:00+08:00",
        ),
    )
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    hashed = (await session.scalars(select(TraceEvent.event_id).order_by(TraceEvent.id))).all()
    assert hashed[0].startswith("ni:///sha-256;")
    assert hashed[0].endswith("?ver=CBV2.0")
    for event_id in hashed:
        response = await client.get(f"{EVENTS}/{quote(event_id, safe='')}", headers=shop.headers)
        assert [e["eventID"] for e in event_list(response)] == [event_id]
    missing = await client.get(f"{EVENTS}/urn:uuid:nope", headers=shop.headers)
    assert missing.status_code == 404

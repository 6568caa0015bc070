"""Named queries (/epcis/queries): created with parameters validated as /epcis/events validates
them, listed, read, run and deleted by their organisation; nobody reaches another's."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from tests.trace.helpers import CAPTURE, a_shop, document, event
from tests.trace.test_query_parameters import ids

QUERIES = "/epcis/queries"


def warm(day: int, value: float) -> dict[str, Any]:
    return event(
        eventID=f"urn:uuid:00000000-0000-4000-8000-0000000000{day:02d}",
        eventTime=f"2024-05-{day:02d}T08:00:00+08:00",
        sensorElementList=[
            {"sensorReport": [{"type": "Temperature", "value": value, "uom": "CEL"}]}
        ],
    )


async def test_a_named_query_is_saved_listed_run_and_deleted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = document(warm(1, 3.0), warm(2, 9.0), warm(3, 12.0), event())
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    body = {
        "name": "too-warm",
        "query": {"EQ_type": ["Temperature"], "GE_value_CEL": 8, "EXISTS_sensorElementList": True},
    }
    created = await client.post(QUERIES, json=body, headers=shop.headers)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/epcis/queries/too-warm"
    assert created.json()["query"] == {
        "EQ_type": ["Temperature"],
        "GE_value_CEL": ["8"],
        "EXISTS_sensorElementList": [""],
    }
    again = await client.post(QUERIES, json=body, headers=shop.headers)
    assert again.status_code == 409
    second = {"name": "all", "query": {}}
    assert (await client.post(QUERIES, json=second, headers=shop.headers)).status_code == 201

    listed = await client.get(QUERIES, params={"perPage": 1}, headers=shop.headers)
    assert [q["name"] for q in listed.json()] == ["all"]
    following = listed.headers["Link"].split(">")[0].lstrip("<")
    assert [q["name"] for q in (await client.get(following, headers=shop.headers)).json()] == [
        "too-warm"
    ]
    got = await client.get(f"{QUERIES}/too-warm", headers=shop.headers)
    assert got.json()["name"] == "too-warm"

    run = f"{QUERIES}/too-warm/events"
    assert ids(await client.get(run, headers=shop.headers)) == [
        "urn:uuid:00000000-0000-4000-8000-000000000002",
        "urn:uuid:00000000-0000-4000-8000-000000000003",
    ]
    page = await client.get(run, params={"perPage": 1}, headers=shop.headers)
    assert len(ids(page)) == 1
    rest = await client.get(page.headers["Link"].split(">")[0].lstrip("<"), headers=shop.headers)
    assert ids(rest) == ["urn:uuid:00000000-0000-4000-8000-000000000003"]
    extra = await client.get(run, params={"EQ_bizStep": "shipping"}, headers=shop.headers)
    assert extra.status_code == 400

    assert (await client.delete(f"{QUERIES}/too-warm", headers=shop.headers)).status_code == 204
    assert (await client.get(f"{QUERIES}/too-warm", headers=shop.headers)).status_code == 404
    assert (await client.get(run, headers=shop.headers)).status_code == 404
    actions = (
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("trace.query.%"))
        )
    ).all()
    assert sorted(actions) == ["trace.query.create", "trace.query.create", "trace.query.delete"]


async def test_a_named_query_is_validated_like_the_events_query(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    for body in (
        {"name": "x", "query": {"NOPE": "1"}},
        {"name": "x", "query": {"GE_eventTime": "yesterday"}},
        {"name": "x", "query": {"perPage": 5}},
        {"name": "x", "query": {"EQ_bizStep": True}},
        {"name": "x", "query": {"MATCH_epc": "urn:epc:idpat:sgtin:ABC.*.*"}},
        {"name": "has space", "query": {}},
        {"name": "x/y", "query": {}},
    ):
        response = await client.post(QUERIES, json=body, headers=shop.headers)
        assert response.status_code == 400, (body, response.text)
    assert (await client.get(QUERIES, headers=shop.headers)).json() == []


async def test_nobody_reaches_another_organisations_named_queries(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine = await a_shop(client, session, name="我的店")
    theirs = await a_shop(client, session, name="别人的店")
    doc = document(warm(1, 30.0))
    assert (await client.post(CAPTURE, json=doc, headers=theirs.headers)).status_code == 202
    body = {"name": "warm", "query": {"EQ_type": "Temperature"}}
    assert (await client.post(QUERIES, json=body, headers=theirs.headers)).status_code == 201
    assert (await client.get(QUERIES, headers=mine.headers)).json() == []
    for method, url in (
        ("GET", f"{QUERIES}/warm"),
        ("GET", f"{QUERIES}/warm/events"),
        ("DELETE", f"{QUERIES}/warm"),
    ):
        response = await client.request(method, url, headers=mine.headers)
        assert response.status_code == 404, (method, url)
    # The same name is free for another organisation, and runs over its own events only.
    assert (await client.post(QUERIES, json=body, headers=mine.headers)).status_code == 201
    assert ids(await client.get(f"{QUERIES}/warm/events", headers=mine.headers)) == []
    assert len(ids(await client.get(f"{QUERIES}/warm/events", headers=theirs.headers))) == 1

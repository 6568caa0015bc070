"""EPCIS error declarations: an event captured again under its eventID with an
`errorDeclaration` is stored as its correction. The original stays, queries return it declared
in error (with its corrective events), the declaration is a new link of the chain, which still
verifies, the trace page shows it, and it is audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.config import Settings
from linli.trace import eventhash
from linli.trace.models import TraceChainLink, TraceEvent
from linli.trace.verification import verify_chains
from tests.trace.helpers import CAPTURE, EVENTS, a_batch, a_shop, document, lot_event
from tests.trace.test_verify import VERIFY, run_verify

WRONG = "urn:uuid:0f5ad6d4-8a39-4d9b-a4d6-3c7f1e0c1a01"
RIGHT = "urn:uuid:0f5ad6d4-8a39-4d9b-a4d6-3c7f1e0c1a02"
DECLARATION = {
    "declarationTime": "2024-05-03T09:00:00.000+08:00",
    "reason": "incorrect_data",
    "correctiveEventIDs": [RIGHT],
}


def shipped(**fields: Any) -> dict[str, Any]:
    return lot_event(**{"eventID": WRONG, "disposition": "in_transit", **fields})


async def capture(client: httpx.AsyncClient, shop: Any, *events: dict[str, Any]) -> httpx.Response:
    return await client.post(CAPTURE, json=document(*events), headers=shop.headers)


async def declared(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Any, Any]:
    """A batch whose shipping event was declared in error and corrected."""
    shop = await a_shop(client, session)
    batch = await a_batch(client, shop)
    assert (await capture(client, shop, shipped())).status_code == 202
    correction = await capture(
        client,
        shop,
        shipped(errorDeclaration=DECLARATION),
        lot_event(eventID=RIGHT, disposition="in_progress"),
    )
    assert correction.status_code == 202, correction.text
    job = (await client.get(correction.headers["Location"], headers=shop.headers)).json()
    assert job["success"] is True
    assert job["eventCount"] == 2
    assert job["warnings"] == []
    return shop, batch


async def test_a_correction_keeps_the_original_declared_in_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop, _batch = await declared(client, session)
    rows = (
        await session.scalars(
            select(TraceEvent).where(TraceEvent.event_id == WRONG).order_by(TraceEvent.id)
        )
    ).all()
    assert [r.is_correction for r in rows] == [False, True]
    assert rows[0].hash_id == rows[1].hash_id == eventhash.event_hash_id(shipped())
    assert '"errorDeclaration"' not in rows[0].document  # the original is as captured

    listed = await client.get(EVENTS, headers=shop.headers)
    events = listed.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    by_id = {e["eventID"]: e for e in events}
    assert [e["eventID"] for e in events].count(WRONG) == 1  # the event, declared in error
    assert by_id[WRONG]["errorDeclaration"] == DECLARATION
    assert by_id[WRONG]["disposition"] == "in_transit"
    assert "errorDeclaration" not in by_id[RIGHT]  # the corrective event, on its own

    one = await client.get(f"{EVENTS}/{quote(WRONG, safe='')}", headers=shop.headers)
    (event,) = one.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["errorDeclaration"] == DECLARATION

    audited = (
        await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "trace.event.declared_in_error")
        )
    ).all()
    assert [a.details["event_id"] for a in audited] == [WRONG]
    assert [a.details["reason"] for a in audited] == ["incorrect_data"]


async def test_the_declaration_is_a_new_link_and_the_chain_verifies(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop, batch = await declared(client, session)
    links = await session.scalar(
        select(func.count())
        .select_from(TraceChainLink)
        .where(TraceChainLink.chain == f"batch:{batch['id']}")
    )
    assert links == 4  # commissioning, the event, its declaration, the corrective event
    for independent in (False, True):
        report = await verify_chains(session, independent=independent)
        assert report.broken is None
    report = await verify_chains(session, deep=True)
    assert report.broken is None
    result = await run_verify(settings, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "OK: 1 chains, 4 links intact." in result.output
    api = await client.get(VERIFY, params={"batch_id": batch["id"]}, headers=shop.headers)
    assert api.json()["ok"] is True


async def test_the_trace_page_shows_the_correction(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _shop, batch = await declared(client, session)
    page = await client.get(f"/t/{batch['code']}")
    assert page.status_code == 200
    assert page.text.count('data-testid="declared-in-error"') == 1
    assert "correction: an earlier record declared in error" in page.text
    zh = await client.get(f"/t/{batch['code']}", headers={"Accept-Language": "zh-CN"})
    assert zh.text.count('data-testid="declared-in-error"') == 1
    assert "declared in error" not in zh.text


async def test_a_declaration_repeated_is_a_no_op_and_another_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop, _batch = await declared(client, session)
    again = await capture(client, shop, shipped(errorDeclaration=DECLARATION))
    assert again.status_code == 202, again.text
    job = (await client.get(again.headers["Location"], headers=shop.headers)).json()
    assert job["eventCount"] == 0
    assert [w["field"] for w in job["warnings"]] == ["epcisBody.eventList[0].eventID"]
    other = await capture(
        client, shop, shipped(errorDeclaration={**DECLARATION, "reason": "did_not_occur"})
    )
    assert other.status_code == 400
    assert list(other.json()["error"]["fields"]) == ["epcisBody.eventList[0].errorDeclaration"]
    count = await session.scalar(
        select(func.count()).select_from(TraceEvent).where(TraceEvent.event_id == WRONG)
    )
    assert count == 2


async def test_a_declaration_with_other_content_or_of_an_unknown_event_warns(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    assert (await capture(client, shop, shipped())).status_code == 202
    response = await capture(
        client,
        shop,
        shipped(disposition="damaged", errorDeclaration=DECLARATION),
        lot_event(eventID=RIGHT, errorDeclaration=DECLARATION),
    )
    assert response.status_code == 202, response.text
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["eventCount"] == 2
    reasons = {w["eventIndex"]: w["reason"] for w in job["warnings"]}
    assert eventhash.event_hash_id(shipped()) in reasons[0]
    assert eventhash.event_hash_id(shipped(disposition="damaged")) in reasons[0]
    assert "was not captured here" in reasons[1]
    listed = await client.get(EVENTS, headers=shop.headers)
    events = listed.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    # the original (declared in error) and the unknown event (which carries its declaration)
    assert sorted((e["eventID"], "errorDeclaration" in e) for e in events) == [
        (WRONG, True),
        (RIGHT, True),
    ]

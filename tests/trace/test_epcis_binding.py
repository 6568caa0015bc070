"""The EPCIS 2.0 REST binding around capture and queries: captureErrorBehaviour (rollback and
proceed), the capture limits and GS1 headers on every /epcis answer, 406 and 415."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace.models import TraceCapture, TraceEvent
from tests.trace.helpers import CAPTURE, EVENTS, a_shop, document, event

PROCEED = {"GS1-Capture-Error-Behaviour": "proceed"}


def _mixed() -> dict[str, Any]:
    """Three events: the second has an unknown bizStep word, the rest are valid."""
    return document(
        event(eventID="urn:uuid:00000000-0000-4000-8000-000000000001"),
        event(eventID="urn:uuid:00000000-0000-4000-8000-000000000002", bizStep="wandering"),
        event(eventID="urn:uuid:00000000-0000-4000-8000-000000000003", action="ADD"),
    )


async def _stored(session: AsyncSession) -> list[str]:
    await session.rollback()
    return list((await session.scalars(select(TraceEvent.event_id).order_by(TraceEvent.id))).all())


async def test_rollback_is_the_default_and_refuses_the_whole_document(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    response = await client.post(CAPTURE, json=_mixed(), headers=shop.headers)
    assert response.status_code == 400, response.text
    assert "epcisBody.eventList[1].bizStep" in response.json()["error"]["fields"]
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["captureErrorBehaviour"] == "rollback"
    assert job["success"] is False
    assert job["eventCount"] == 0
    assert await _stored(session) == []


async def test_proceed_stores_the_valid_events_and_names_the_others(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    headers = {**shop.headers, **PROCEED}
    response = await client.post(CAPTURE, json=_mixed(), headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["GS1-Capture-Error-Behaviour"] == "proceed"
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["captureErrorBehaviour"] == "proceed"
    assert job["eventCount"] == 2
    assert job["success"] is False  # not every event was captured
    assert [(e["field"], e["eventIndex"]) for e in job["errors"]] == [
        ("epcisBody.eventList[1].bizStep", 1)
    ]
    assert await _stored(session) == [
        "urn:uuid:00000000-0000-4000-8000-000000000001",
        "urn:uuid:00000000-0000-4000-8000-000000000003",
    ]
    # a valid document with proceed: captured whole, success
    again = await client.post(
        CAPTURE,
        json=document(event(eventID="urn:uuid:00000000-0000-4000-8000-000000000004")),
        headers=headers,
    )
    assert again.status_code == 202
    job = (await client.get(again.headers["Location"], headers=shop.headers)).json()
    assert (job["success"], job["errors"], job["eventCount"]) == (True, [], 1)


async def test_proceed_reports_conflicts_found_against_stored_events(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    headers = {**shop.headers, **PROCEED}
    first = event(eventID="urn:uuid:00000000-0000-4000-8000-00000000000a")
    assert (await client.post(CAPTURE, json=document(first), headers=headers)).status_code == 202
    clash = event(eventID="urn:uuid:00000000-0000-4000-8000-00000000000a", bizStep="receiving")
    fresh = event(eventID="urn:uuid:00000000-0000-4000-8000-00000000000b")
    response = await client.post(CAPTURE, json=document(clash, fresh), headers=headers)
    assert response.status_code == 202, response.text
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["eventCount"] == 1
    assert [e["field"] for e in job["errors"]] == ["epcisBody.eventList[0].eventID"]
    assert "captured before" in job["errors"][0]["reason"]


async def test_proceed_with_no_valid_event_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = document(event(bizStep="wandering"), event(eventTime="yesterday"))
    response = await client.post(CAPTURE, json=doc, headers={**shop.headers, **PROCEED})
    assert response.status_code == 400, response.text
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert [e["eventIndex"] for e in job["errors"]] == [0, 1]
    assert job["success"] is False
    # a problem of the document itself refuses it whatever the behaviour
    response = await client.post(
        CAPTURE, json={**doc, "type": "Nonsense"}, headers={**shop.headers, **PROCEED}
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"type": "must be EPCISDocument"}
    bad = await client.post(
        CAPTURE, json=doc, headers={**shop.headers, "GS1-Capture-Error-Behaviour": "maybe"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_error_behaviour"
    assert await _stored(session) == []


GS1 = ("GS1-EPCIS-Version", "GS1-EPCIS-Min", "GS1-EPCIS-Max", "GS1-CBV-Version",
       "GS1-Vendor-Version", "GS1-Extensions")  # fmt: skip
LIMITS = ("GS1-EPCIS-Capture-Limit", "GS1-EPCIS-Capture-File-Size-Limit")


async def test_every_epcis_answer_carries_the_gs1_headers(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    answers = [
        await client.get(EVENTS, headers=shop.headers),
        await client.get("/epcis/events/urn:uuid:nothing", headers=shop.headers),  # 404
        await client.get(EVENTS, params={"EQ_nothing": "x"}, headers=shop.headers),  # 400
        await client.get("/epcis/queries", headers=shop.headers),
        await client.get(EVENTS),  # 401
    ]
    assert [a.status_code for a in answers] == [200, 404, 400, 200, 401]
    for answer in answers:
        assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
        assert all(name in answer.headers for name in GS1), answer.headers
        assert "GS1-EPCIS-Capture-Limit" not in answer.headers
    assert "/api/" not in str(answers[0].url)
    other = await client.get("/healthz")
    assert "GS1-EPCIS-Version" not in other.headers


async def test_the_capture_limits_are_advertised(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    options = await client.options(CAPTURE)
    assert options.status_code == 204
    assert options.headers["GS1-EPCIS-Capture-Limit"] == "1000"
    assert options.headers["GS1-EPCIS-Capture-File-Size-Limit"] == "1048576"
    assert options.headers["GS1-Capture-Error-Behaviour"] == "rollback"
    assert options.headers["Allow"] == "OPTIONS, GET, POST"
    captured = await client.post(CAPTURE, json=document(event()), headers=shop.headers)
    assert captured.status_code == 202
    jobs = await client.get(CAPTURE, headers=shop.headers)
    assert jobs.status_code == 200
    assert all(jobs.headers[name] for name in (*GS1, *LIMITS))
    assert [j["captureID"] for j in jobs.json()] == [captured.json()["captureID"]]
    # over the body size limit: 413, with the limits
    big = b'{"x": "' + b"a" * 1_048_576 + b'"}'
    too_big = await client.post(
        CAPTURE, content=big, headers={**shop.headers, "Content-Type": "application/json"}
    )
    assert too_big.status_code == 413
    assert too_big.headers["GS1-EPCIS-Capture-File-Size-Limit"] == "1048576"
    assert too_big.headers["GS1-EPCIS-Version"] == "2.0.0"


async def test_capture_jobs_are_paged_and_the_organisations_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    other = await a_shop(client, session, name="别家", gtin="4012345123463")
    ids = []
    for n in range(3):
        doc = document(event(eventID=f"urn:uuid:00000000-0000-4000-8000-00000000010{n}"))
        ids.append((await client.post(CAPTURE, json=doc, headers=shop.headers)).json())
    first = await client.get(CAPTURE, params={"perPage": 2}, headers=shop.headers)
    assert [j["captureID"] for j in first.json()] == [ids[2]["captureID"], ids[1]["captureID"]]
    link = first.headers["Link"]
    nxt = await client.get(link[1 : link.index(">")], headers=shop.headers)
    assert [j["captureID"] for j in nxt.json()] == [ids[0]["captureID"]]
    assert "Link" not in nxt.headers
    assert (await client.get(CAPTURE, headers=other.headers)).json() == []
    bad = await client.get(CAPTURE, params={"nextPageToken": "x"}, headers=shop.headers)
    assert bad.status_code == 400
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(TraceCapture)) == 3


async def test_unsupported_versions_and_formats(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    for header, value in (
        ("GS1-EPCIS-Version", "1.2"),
        ("GS1-CBV-Version", "3.0.0"),
        ("GS1-EPCIS-Min", "2.1"),
        ("GS1-EPCIS-Max", "1.2.0"),
        ("GS1-EPCIS-Version", "two"),
    ):
        response = await client.get(EVENTS, headers={**shop.headers, header: value})
        assert response.status_code == 406, (header, value)
        assert response.json()["error"]["code"] == "version_not_supported"
        assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    for value in ("2.0", "2.0.0", "2.0.1"):
        ok = await client.get(EVENTS, headers={**shop.headers, "GS1-EPCIS-Version": value})
        assert ok.status_code == 200
    # Accept: the events answer in JSON or XML; the named queries in JSON only
    assert (
        await client.get(EVENTS, headers={**shop.headers, "Accept": "text/csv"})
    ).status_code == 406
    xml = await client.get(EVENTS, headers={**shop.headers, "Accept": "application/xml"})
    assert xml.status_code == 200
    assert xml.headers["content-type"].startswith("application/xml")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert (
        await client.get(EVENTS, headers={**shop.headers, "Accept": browser})
    ).status_code == 200
    queries = await client.get("/epcis/queries", headers={**shop.headers, "Accept": "text/xml"})
    assert queries.status_code == 406
    refused = await client.get(
        EVENTS, headers={**shop.headers, "Accept": "application/json;q=0, text/csv"}
    )
    assert refused.status_code == 406
    # a body that is not JSON: 415 (capture takes XML too, and says so itself)
    form = await client.post(
        "/epcis/queries", content=b"name=x", headers={
            **shop.headers, "Content-Type": "application/x-www-form-urlencoded"
        },
    )  # fmt: skip
    assert form.status_code == 415
    text = await client.post(
        CAPTURE, content=b"x", headers={**shop.headers, "Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    assert text.headers["GS1-EPCIS-Capture-Limit"] == "1000"

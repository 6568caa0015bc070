"""POST /epcis/capture: every GS1 example is accepted and exported valid; invalid documents
are refused whole, naming the field, with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft7Validator, FormatChecker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace import eventhash, vocab
from linli.trace.capture_checks import parse_time
from linli.trace.models import TraceCapture, TraceChainLink, TraceEvent
from tests.trace.epcis_data import EPCIS_DIR, EXAMPLES, events_of, load, schema
from tests.trace.helpers import CAPTURE, EVENTS, a_shop, document, event

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or parse_time(value) is not None


def assert_valid_epcis(data: dict[str, Any]) -> None:
    """Against the official schema in ../shared (date-time formats asserted)."""
    errors = list(Draft7Validator(schema(), format_checker=_FORMATS).iter_errors(data))
    assert errors == [], [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors]


async def count(session: AsyncSession, model: Any) -> int:
    await session.rollback()  # a fresh snapshot
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_vendored_schema_and_context_equal_the_shared_ones() -> None:
    for name in ("EPCIS-JSON-Schema.json", "epcis-context.jsonld"):
        assert vocab.schema_file(name).read_bytes() == (EPCIS_DIR / name).read_bytes()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
async def test_every_example_captures_and_exports_valid(
    path: Path, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = load(path)
    response = await client.post(CAPTURE, json=doc, headers=shop.headers)
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert location == f"/epcis/capture/{response.json()['captureID']}"

    job = (await client.get(location, headers=shop.headers)).json()
    assert job["success"] is True
    assert job["errors"] == []
    assert job["eventCount"] == len(events_of(doc))

    exported = await client.get(EVENTS, params={"perPage": 1000}, headers=shop.headers)
    assert exported.status_code == 200
    body = exported.json()
    assert_valid_epcis(body)
    events = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(events) == len(events_of(doc))
    stored = (await session.scalars(select(TraceEvent).order_by(TraceEvent.id))).all()
    assert [row.hash_id for row in stored] == eventhash.document_hash_ids(doc)
    given = [e.get("eventID") for e in events_of(doc)]
    assert [e["eventID"] for e in events] == [
        g or h for g, h in zip(given, eventhash.document_hash_ids(doc), strict=True)
    ]


def _without(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["epcisBody"]["eventList"][1].pop(field)


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["epcisBody"]["eventList"][1].__setitem__(field, value)


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing eventTime", _without("eventTime"), "epcisBody.eventList[1].eventTime"),
    ("missing action", _without("action"), "epcisBody.eventList[1].action"),
    (
        "missing zone offset",
        _without("eventTimeZoneOffset"),
        "epcisBody.eventList[1].eventTimeZoneOffset",
    ),
    ("missing body", lambda doc: doc.pop("epcisBody"), "epcisBody"),
    ("unknown bizStep", _set("bizStep", "shiping"), "epcisBody.eventList[1].bizStep"),
    (
        "unknown CBV URI",
        _set("disposition", "https://ref.gs1.org/cbv/Disp-lost_forever"),
        "epcisBody.eventList[1].disposition",
    ),
    (
        "unknown legacy URN",
        _set("bizStep", "urn:epcglobal:cbv:bizstep:flying"),
        "epcisBody.eventList[1].bizStep",
    ),
    (
        "text for a quantity",
        _set(
            "quantityList",
            [{"epcClass": "urn:epc:class:lgtin:4012345.012345.1", "quantity": "twenty"}],
        ),
        "epcisBody.eventList[1].quantityList[0].quantity",
    ),
    (
        "bad timestamp",
        _set("eventTime", "2024-13-45T25:00:00Z"),
        "epcisBody.eventList[1].eventTime",
    ),
    (
        "timestamp without zone",
        _set("eventTime", "2024-05-02T08:00:00"),
        "epcisBody.eventList[1].eventTime",
    ),
    ("not a timestamp", _set("eventTime", "yesterday"), "epcisBody.eventList[1].eventTime"),
    (
        "bad zone offset",
        _set("eventTimeZoneOffset", "+25:00"),
        "epcisBody.eventList[1].eventTimeZoneOffset",
    ),
    ("no @context", lambda doc: doc.pop("@context"), "@context"),
]


@pytest.mark.parametrize(
    ("mutate", "field"), [(m, f) for _n, m, f in INVALID], ids=[n for n, _m, _f in INVALID]
)
async def test_invalid_documents_are_refused_whole_naming_the_field(
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
) -> None:
    shop = await a_shop(client, session)
    doc = document(event(), event(eventTime="2024-05-02T09:00:00.000+08:00"))
    mutate(doc)
    response = await client.post(CAPTURE, json=doc, headers=shop.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "capture_refused"
    assert error["message"].startswith(f"{field}: ")
    assert list(error["fields"]) == [field]
    assert await count(session, TraceEvent) == 0  # not even the valid first event
    assert await count(session, TraceChainLink) == 0
    job = await client.get(response.headers["Location"], headers=shop.headers)
    assert job.json()["success"] is False
    assert job.json()["errors"][0]["field"] == field


async def test_non_cbv_uris_are_extensions_and_accepted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = document(
        event(
            bizStep="https://example.com/steps/ripening",
            disposition="https://ref.gs1.org/cbv/Disp-in_transit",
        )
    )
    response = await client.post(CAPTURE, json=doc, headers=shop.headers)
    assert response.status_code == 202, response.text


async def test_malformed_json_and_non_documents_are_400(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    bad = await client.post(CAPTURE, content=b"{not json", headers=shop.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "malformed_json"
    listed = await client.post(CAPTURE, json=[1, 2], headers=shop.headers)
    assert listed.status_code == 400
    assert await count(session, TraceEvent) == 0


async def test_an_event_is_captured_once(client: httpx.AsyncClient, session: AsyncSession) -> None:
    shop = await a_shop(client, session)
    doc = document(event())
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    again = await client.post(CAPTURE, json=doc, headers=shop.headers)
    assert again.status_code == 400
    assert list(again.json()["error"]["fields"]) == ["epcisBody.eventList[0].eventID"]
    assert await count(session, TraceEvent) == 1
    assert await count(session, TraceCapture) == 2  # one succeeded, one failed

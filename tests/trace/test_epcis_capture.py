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
        "unknown legacy URN",
        _set("bizStep", "urn:epcglobal:cbv:bizstep:flying"),
        "epcisBody.eventList[1].bizStep",
    ),
    (
        "bare field in ilmd",
        _set("ilmd", {"bestBefore": "2024-06-01"}),
        "epcisBody.eventList[1].ilmd.bestBefore",
    ),
    (
        "bare extension field",
        _set("myField", "x"),
        "epcisBody.eventList[1].myField",
    ),
    (
        "extension prefix not in @context",
        _set("acme:myField", "x"),
        "epcisBody.eventList[1].acme:myField",
    ),
    (
        "bare field inside an extension",
        _set("https://ns.example.com/epcis/grade", {"colour": "red"}),
        "epcisBody.eventList[1].https://ns.example.com/epcis/grade.colour",
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


async def test_non_cbv_uris_are_user_vocabulary_accepted_with_a_warning(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """CBV-defined fields take CBV terms and any other absolute URI or compact IRI (user
    vocabulary): accepted, each with a warning on the capture job. A bare word that is no
    CBV term is neither, and is refused (INVALID above), as is an EPCIS 1.x CBV URN of an
    unknown term (the JSON schema forbids those)."""
    shop = await a_shop(client, session)
    reading = {
        "sensorReport": [{"type": "gs1:MT-Radiance", "value": 3.5, "uom": "CEL"}],
    }
    doc = document(
        event(
            bizStep="https://example.com/steps/ripening",
            disposition="https://ref.gs1.org/cbv/Disp-lost_forever",
        ),
        event(
            eventTime="2024-05-02T09:00:00.000+08:00",
            bizStep="cbv:BizStep-flying",
            sourceList=[
                {"type": "cbv:SDT-owning_planet", "source": "urn:epc:id:pgln:4012345.00001"}
            ],
            sensorElementList=[reading],
        ),
        event(eventTime="2024-05-02T10:00:00.000+08:00"),
    )
    response = await client.post(CAPTURE, json=doc, headers=shop.headers)
    assert response.status_code == 202, response.text
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["success"] is True
    assert job["eventCount"] == 3
    warned = {w["field"]: w["reason"] for w in job["warnings"]}
    assert warned == {
        "epcisBody.eventList[0].bizStep": (
            "user vocabulary, not a CBV term: https://example.com/steps/ripening"
        ),
        "epcisBody.eventList[0].disposition": (
            "not a CBV 2.0 term (accepted as user vocabulary): "
            "https://ref.gs1.org/cbv/Disp-lost_forever"
        ),
        "epcisBody.eventList[1].bizStep": (
            "not a CBV 2.0 term (accepted as user vocabulary): cbv:BizStep-flying"
        ),
        "epcisBody.eventList[1].sourceList[0].type": (
            "not a CBV 2.0 term (accepted as user vocabulary): cbv:SDT-owning_planet"
        ),
        "epcisBody.eventList[1].sensorElementList[0].sensorReport[0].type": (
            "not a CBV 2.0 term (accepted as user vocabulary): gs1:MT-Radiance"
        ),
    }
    assert {w["eventIndex"] for w in job["warnings"]} == {0, 1}
    assert await count(session, TraceEvent) == 3


async def test_namespaced_extensions_and_ilmd_are_accepted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    doc = document(
        event(
            action="ADD",
            ilmd={
                "acme:bestBefore": "2024-06-01",
                "https://ns.example.com/epcis/grade": {"acme:colour": "red"},
            },
            **{"acme:myField": "x", "urn:example:field": "y"},
        )
    )
    doc["@context"] = [*doc["@context"], {"acme": "https://ns.acme.example/epcis/"}]
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


async def test_an_event_captured_again_unchanged_is_a_no_op(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A retried push: the same eventID and the same event hash id is accepted (202) and not
    stored again; the capture job says so."""
    shop = await a_shop(client, session)
    given = document(event(eventID="urn:uuid:6c1b55b2-3a8d-4a57-9a6c-2d2b2e3e2a01"), event())
    assert (await client.post(CAPTURE, json=given, headers=shop.headers)).status_code == 202
    again = await client.post(CAPTURE, json=given, headers=shop.headers)
    assert again.status_code == 202, again.text
    job = (await client.get(again.headers["Location"], headers=shop.headers)).json()
    assert job["success"] is True
    assert job["eventCount"] == 0
    assert [w["field"] for w in job["warnings"]] == [
        "epcisBody.eventList[0].eventID",
        "epcisBody.eventList[1].eventID",
    ]
    assert await count(session, TraceEvent) == 2
    assert await count(session, TraceCapture) == 2  # both succeeded


async def test_another_event_under_a_known_event_id_is_refused_naming_both(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    first = event(eventID="urn:uuid:6c1b55b2-3a8d-4a57-9a6c-2d2b2e3e2a02")
    assert (
        await client.post(CAPTURE, json=document(first), headers=shop.headers)
    ).status_code == 202
    changed = {**first, "disposition": "in_progress"}
    again = await client.post(CAPTURE, json=document(changed), headers=shop.headers)
    assert again.status_code == 400
    (field,) = again.json()["error"]["fields"]
    assert field == "epcisBody.eventList[0].eventID"
    message = again.json()["error"]["message"]
    assert eventhash.event_hash_id(first) in message
    assert eventhash.event_hash_id(changed) in message
    assert eventhash.event_hash_id(first) != eventhash.event_hash_id(changed)
    assert await count(session, TraceEvent) == 1
    assert await count(session, TraceCapture) == 2  # one succeeded, one failed

"""XML capture (EPCIS 2.0 and 1.2): every GS1 XML example is captured; our own corpus (2.0 and
1.2, every event type) converts to exactly its JSON twin, so XML and JSON give the same event
hash ids; invalid XML is refused naming the element; DTDs and entities (XXE, billion laughs)
are refused and never resolved; other content types answer 415."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.config import Settings
from linli.trace import epcis_xml, eventhash
from linli.trace.capture_checks import CaptureRefused, check_document
from linli.trace.models import TraceCapture, TraceEvent
from tests.trace.epcis_data import EPCIS_DIR, SHARED_DIR
from tests.trace.helpers import CAPTURE, EVENTS, a_shop

XSD_DIR = EPCIS_DIR / "xsd"
XML_EXAMPLES = sorted((EPCIS_DIR / "xml-examples").glob("*.xml"))
CORPUS = Path(__file__).parent / "xml_corpus"
TWINS = ["all_events_2_0", "all_events_1_2"]
XML = {"Content-Type": "application/xml"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared reference data (the official XSDs) where the tests find it."""
    return settings.model_copy(update={"shared_dir": SHARED_DIR})


def read(path: Path) -> bytes:
    return path.read_bytes()


def xml_headers(shop: Any, content_type: str = "application/xml") -> dict[str, str]:
    return {**shop.headers, "Content-Type": content_type}


async def stored_hash_ids(session: AsyncSession) -> list[str]:
    await session.rollback()
    return list((await session.scalars(select(TraceEvent.hash_id).order_by(TraceEvent.id))).all())


def test_every_gs1_xml_example_is_read() -> None:
    assert len(XML_EXAMPLES) >= 29
    for path in XML_EXAMPLES:
        document = epcis_xml.parse(path.read_bytes(), XSD_DIR)
        check_document(document, [], from_xml=True)


@pytest.mark.parametrize("path", XML_EXAMPLES, ids=[p.stem for p in XML_EXAMPLES])
async def test_every_gs1_xml_example_is_captured(
    path: Path, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    body = read(path)
    response = await client.post(CAPTURE, content=body, headers=xml_headers(shop))
    assert response.status_code == 202, response.text
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["success"] is True
    converted = epcis_xml.parse(body, XSD_DIR)
    events = converted["epcisBody"]["eventList"]
    keys = {
        (str(e.get("eventID") or h), "errorDeclaration" in e)
        for e, h in zip(events, eventhash.document_hash_ids(converted), strict=True)
    }
    # GS1's identical-hash examples repeat one event; an event and its error declaration
    # share an eventID
    assert job["eventCount"] == len(keys)
    assert set(await stored_hash_ids(session)) == set(eventhash.document_hash_ids(converted))


@pytest.mark.parametrize("name", TWINS)
def test_our_corpus_converts_to_its_json_twin(name: str) -> None:
    converted = epcis_xml.parse((CORPUS / f"{name}.xml").read_bytes(), XSD_DIR)
    twin = json.loads((CORPUS / f"{name}.jsonld").read_text("utf-8"))
    assert converted["@context"] == twin["@context"]
    assert converted["epcisBody"]["eventList"] == twin["epcisBody"]["eventList"]
    assert eventhash.document_hash_ids(converted) == eventhash.document_hash_ids(twin)
    types = {e["type"] for e in twin["epcisBody"]["eventList"]}
    expected = set(epcis_xml.EVENT_TYPES) - ({"AssociationEvent"} if "1_2" in name else set())
    assert types == expected  # every event type of the version


@pytest.mark.parametrize("name", TWINS)
async def test_xml_and_json_of_the_same_events_give_the_same_hash_ids(
    name: str, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    json_shop = await a_shop(client, session, name="JSON 鲜果", gtin="4012345123463")
    twin = json.loads((CORPUS / f"{name}.jsonld").read_text("utf-8"))
    from_json = await client.post(CAPTURE, json=twin, headers=json_shop.headers)
    assert from_json.status_code == 202, from_json.text
    json_ids = await stored_hash_ids(session)
    assert json_ids == eventhash.document_hash_ids(twin)

    xml_shop = await a_shop(client, session, name="XML 鲜果")
    body = (CORPUS / f"{name}.xml").read_bytes()
    from_xml = await client.post(CAPTURE, content=body, headers=xml_headers(xml_shop))
    assert from_xml.status_code == 202, from_xml.text
    assert (await stored_hash_ids(session))[len(json_ids) :] == json_ids

    # the XML pushed again (a retry) is a no-op: the same events, by eventID or hash id
    again = await client.post(CAPTURE, content=body, headers=xml_headers(xml_shop, "text/xml"))
    assert again.status_code == 202, again.text
    job = (await client.get(again.headers["Location"], headers=xml_shop.headers)).json()
    assert job["eventCount"] == 0

    exported = await client.get(EVENTS, headers=xml_shop.headers)
    events = exported.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(events) == len(json_ids)


INVALID_TIME = b"""<?xml version="1.0"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2024-05-02T08:00:00Z">
  <EPCISBody><EventList><ObjectEvent>
    <eventTime>yesterday</eventTime>
    <eventTimeZoneOffset>+08:00</eventTimeZoneOffset>
    <epcList><epc>urn:epc:id:sgtin:4012345.012345.1</epc></epcList>
    <action>OBSERVE</action>
  </ObjectEvent></EventList></EPCISBody>
</epcis:EPCISDocument>"""
MISSING_ACTION = INVALID_TIME.replace(b"yesterday", b"2024-05-02T08:00:00Z").replace(
    b"<action>OBSERVE</action>", b""
)
BARE_EXTENSION = INVALID_TIME.replace(b"yesterday", b"2024-05-02T08:00:00Z").replace(
    b"<action>OBSERVE</action>", b"<action>OBSERVE</action><myField>x</myField>"
)
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE epcis:EPCISDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2024-05-02T08:00:00Z">
  <EPCISBody><EventList><ObjectEvent>
    <eventTime>2024-05-02T08:00:00Z</eventTime>
    <eventTimeZoneOffset>+08:00</eventTimeZoneOffset>
    <epcList><epc>urn:epc:id:sgtin:4012345.012345.1</epc></epcList>
    <action>OBSERVE</action>
    <readPoint><id>urn:x:&xxe;</id></readPoint>
  </ObjectEvent></EventList></EPCISBody>
</epcis:EPCISDocument>"""
EXTERNAL_DTD = XXE.replace(
    b'[<!ENTITY xxe SYSTEM "file:///etc/passwd">]', b'SYSTEM "http://127.0.0.1:9/epcis.dtd"'
).replace(b"&xxe;", b"sgln")
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'.encode()
        for n in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            INVALID_TIME,
            "/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent/eventTime",
            "eventTime",
        ),
        (MISSING_ACTION, "/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent", "action"),
        (BARE_EXTENSION, "/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent/myField", "myField"),
        (b"<not xml", "$", "not well-formed XML"),
        (XXE, "$", "DTDs and entity declarations are not allowed"),
        (EXTERNAL_DTD, "$", "DTDs and entity declarations are not allowed"),
        (LAUGHS, "$", "DTDs and entity declarations are not allowed"),
        (
            b'<EPCISDocument xmlns="urn:example:other"/>',
            "$",
            "the root element must be an EPCIS 2.0 or 1.2 EPCISDocument",
        ),
    ],
    ids=[
        "bad time",
        "missing action",
        "bare extension",
        "malformed",
        "xxe",
        "external dtd",
        "billion laughs",
        "other root",
    ],
)
async def test_invalid_or_unsafe_xml_is_refused_naming_the_element(
    body: bytes, field: str, reason: str, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    response = await client.post(CAPTURE, content=body, headers=xml_headers(shop))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "capture_refused"
    assert list(error["fields"]) == [field]
    assert reason in error["message"]
    assert "root:" not in response.text  # /etc/passwd was never read
    job = (await client.get(response.headers["Location"], headers=shop.headers)).json()
    assert job["success"] is False
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(TraceEvent)) == 0


def test_entities_are_never_expanded() -> None:
    for body in (XXE, LAUGHS, EXTERNAL_DTD):
        with pytest.raises(CaptureRefused):
            epcis_xml.parse(body, XSD_DIR)


async def test_other_content_types_answer_415(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/csv"):
        response = await client.post(
            CAPTURE, content=b"{}", headers=xml_headers(shop, content_type)
        )
        assert response.status_code == 415, content_type
        assert response.json()["error"]["code"] == "unsupported_media_type"
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(TraceCapture)) == 0


async def test_without_the_xsds_xml_capture_answers_415(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    shop = await a_shop(client, session)
    app.state.settings = app.state.settings.model_copy(update={"shared_dir": tmp_path})
    body = (CORPUS / "all_events_2_0.xml").read_bytes()
    response = await client.post(CAPTURE, content=body, headers=xml_headers(shop))
    assert response.status_code == 415
    assert "XML capture is not available here" in response.json()["error"]["message"]


@pytest.fixture(scope="module")
def query_schema() -> Any:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(
        etree.parse(str(XSD_DIR / "2.0" / "EPCglobal-epcis-query-2_0.xsd"), parser)
    )


async def test_query_results_in_xml_are_valid_and_read_back_the_same(
    query_schema: Any, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """`Accept: application/xml` answers the EPCIS 2.0 XML binding, valid against the query
    XSD; its events, read back as a capture document, give the same hash ids."""
    shop = await a_shop(client, session)
    twin = json.loads((CORPUS / "all_events_2_0.jsonld").read_text("utf-8"))
    assert (await client.post(CAPTURE, json=twin, headers=shop.headers)).status_code == 202
    accept = {**shop.headers, "Accept": "application/xml"}
    answer = await client.get(EVENTS, headers=accept)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
    root = etree.fromstring(answer.content)
    assert query_schema.validate(root), query_schema.error_log
    events = root.find("EPCISBody").find(f"{{{epcis_xml.EPCIS_QUERY_2}}}QueryResults")
    event_list = events.find("resultsBody").find("EventList")
    # the same events as a capture document: the hash ids of the JSON twin
    capture = etree.Element(
        f"{{{epcis_xml.EPCIS_2}}}EPCISDocument",
        nsmap={"epcis": epcis_xml.EPCIS_2},
        schemaVersion="2.0",
        creationDate="2024-05-02T08:00:00Z",
    )
    etree.SubElement(etree.SubElement(capture, "EPCISBody"), "EventList").extend(list(event_list))
    read_back = epcis_xml.parse(etree.tostring(capture), XSD_DIR)
    assert eventhash.document_hash_ids(read_back) == eventhash.document_hash_ids(twin)

    one = twin["epcisBody"]["eventList"][0]["eventID"]
    single = await client.get(f"{EVENTS}/{one}", headers=accept)
    assert query_schema.validate(etree.fromstring(single.content))
    as_json = await client.get(EVENTS, headers={**shop.headers, "Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/ld+json")

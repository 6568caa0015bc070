"""The SimpleEventQuery parameters of GS1 EPCIS 2.0 §8.2.7.1 beyond the basic ones: which field
names an EPC, typed bizTransactions / sources / destinations, EXISTS_, error declarations,
sensor reports, ordering and counts; unknown and malformed parameters are 400; and none of
them reaches another organisation's events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace import query_params
from linli.trace.queries import EventQuery, event_matches
from tests.trace.helpers import CAPTURE, EVENTS, Shop, a_shop, document, event

SGTIN = "urn:epc:id:sgtin:4012345.012345."
SSCC = "urn:epc:id:sscc:4012345.0000000001"


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    events: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [e["eventID"] for e in events]


def the_events() -> list[dict[str, Any]]:
    """Eight events, each with an eventID `e{n}` and an eventTime on day n of May."""

    def at(n: int, **fields: Any) -> dict[str, Any]:
        return event(
            eventID=f"urn:uuid:00000000-0000-4000-8000-00000000000{n}",
            **{
                "eventTime": f"2024-05-0{n}T08:00:00+08:00",
                **fields,
            },
        )

    return [
        at(1, epcList=[SGTIN + "1"]),
        at(
            2,
            type="AggregationEvent",
            action="ADD",
            parentID=SSCC,
            childEPCs=[SGTIN + "2"],
            epcList=None,
            bizStep="packing",
        ),
        at(
            3,
            type="TransformationEvent",
            action=None,
            disposition=None,
            epcList=None,
            inputEPCList=[SGTIN + "3"],
            outputEPCList=["urn:epc:id:sgtin:4012345.077777.1"],
            bizStep="commissioning",
        ),
        at(
            4,
            bizTransactionList=[
                {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-1"}
            ],
            sourceList=[{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00001"}],
            destinationList=[
                {"type": "location", "destination": "urn:epc:id:sgln:4012345.00002.0"}
            ],
        ),
        at(
            5,
            sensorElementList=[
                {
                    "sensorMetadata": {"time": "2024-05-05T07:00:00+08:00"},
                    "sensorReport": [
                        {"type": "Temperature", "value": 3.5, "uom": "CEL"},
                        {"type": "RelativeHumidity", "value": 80, "uom": "P1"},
                    ],
                }
            ],
        ),
        at(
            6,
            sensorElementList=[
                {"sensorReport": [{"type": "Temperature", "value": 9.0, "uom": "CEL"}]}
            ],
        ),
        at(
            7,
            errorDeclaration={
                "declarationTime": "2024-05-08T08:00:00+08:00",
                "reason": "incorrect_data",
                "correctiveEventIDs": ["urn:uuid:00000000-0000-4000-8000-000000000001"],
                "example:ticket": "T-42",
            },
        ),
        at(8, **{"example:lane": "3"}),
    ]


def clean(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if v is not None}


async def captured(client: httpx.AsyncClient, session: AsyncSession, name: str) -> Shop:
    shop = await a_shop(client, session, name=name)
    doc = document(*(clean(e) for e in the_events()))
    doc["@context"].append({"example": "https://ns.example.com/epcis/"})
    response = await client.post(CAPTURE, json=doc, headers=shop.headers)
    assert response.status_code == 202, response.text
    return shop


def n(*days: int) -> list[str]:
    return [f"urn:uuid:00000000-0000-4000-8000-00000000000{d}" for d in days]


async def test_each_parameter_selects_what_the_standard_says(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await captured(client, session, "我的店")

    async def query(**params: Any) -> list[str]:
        return ids(await client.get(EVENTS, params=params, headers=shop.headers))

    # Which field names the EPC.
    assert await query(MATCH_epc=SGTIN + "2") == n(2)  # childEPCs
    assert await query(MATCH_epc=SGTIN + "3") == []  # an input is not epcList/childEPCs
    assert await query(MATCH_parentID=SSCC) == n(2)
    assert await query(MATCH_parentID="urn:epc:idpat:sscc:4012345.*") == n(2)
    assert await query(MATCH_parentID=SGTIN + "2") == []
    assert await query(MATCH_inputEPC=SGTIN + "3") == n(3)
    assert await query(MATCH_inputEPC="urn:epc:id:sgtin:4012345.077777.1") == []
    assert await query(MATCH_outputEPC="https://id.gs1.org/01/04012345777772/21/1") == n(3)
    assert await query(MATCH_anyEPC=SSCC) == n(2)
    assert await query(MATCH_anyEPC="urn:epc:idpat:sgtin:4012345.012345.*") == n(
        1, 2, 3, 4, 5, 6, 7, 8
    )
    assert await query(MATCH_anyEPC=f"{SGTIN}3|{SSCC}") == n(2, 3)
    assert await query(EQ_action="ADD") == n(2)
    assert await query(EQ_eventID=n(4)[0]) == n(4)
    # Typed bizTransactions, sources and destinations: the type in any CBV notation.
    po = "urn:epcglobal:cbv:bt:4012345000009:PO-1"
    assert await query(EQ_bizTransaction_po=po) == n(4)
    assert await query(**{"EQ_bizTransaction_https://ref.gs1.org/cbv/BTT-po": po}) == n(4)
    assert await query(EQ_bizTransaction_inv=po) == []
    assert await query(EQ_source_owning_party="urn:epc:id:pgln:4012345.00001") == n(4)
    assert await query(EQ_destination_location="urn:epc:id:sgln:4012345.00002.0") == n(4)
    assert await query(EQ_destination_owning_party="urn:epc:id:sgln:4012345.00002.0") == []
    # EXISTS_: a standard field, an extension as written or by its full URI.
    assert await query(EXISTS_parentID="") == n(2)
    assert await query(EXISTS_sensorElementList="") == n(5, 6)
    assert await query(**{"EXISTS_example:lane": ""}) == n(8)
    assert await query(**{"EXISTS_https://ns.example.com/epcis/lane": ""}) == n(8)
    assert await query(EXISTS_errorDeclaration="") == n(7)
    # Error declarations.
    assert await query(EQ_errorReason="incorrect_data") == n(7)
    assert await query(EQ_errorReason="did_not_occur") == []
    assert await query(EQ_correctiveEventID=n(1)[0]) == n(7)
    assert await query(GE_errorDeclarationTime="2024-05-08T00:00:00Z") == n(7)
    assert await query(LT_errorDeclarationTime="2024-05-08T00:00:00Z") == []
    assert await query(**{"EQ_ERROR_DECLARATION_example:ticket": "T-42"}) == n(7)
    assert await query(**{"EXISTS_ERROR_DECLARATION_example:ticket": ""}) == n(7)
    assert await query(**{"EXISTS_ERROR_DECLARATION_example:other": ""}) == []
    # Sensor reports: every sensor parameter holds on one report.
    assert await query(EQ_type="Temperature") == n(5, 6)
    assert await query(EQ_type="Temperature", GE_value_CEL="4") == n(6)
    assert await query(EQ_type="Temperature", LT_value="4") == n(5)
    assert await query(EQ_type="RelativeHumidity", GE_value="50") == n(5)
    assert await query(EQ_type="Temperature", GE_value="50") == []  # 80 is humidity
    assert await query(GE_value_KEL="0") == []  # no report in kelvin
    assert await query(EQ_value_CEL="9") == n(6)


async def test_order_direction_and_counts(client: httpx.AsyncClient, session: AsyncSession) -> None:
    shop = await captured(client, session, "我的店")

    async def query(**params: Any) -> list[str]:
        return ids(await client.get(EVENTS, params=params, headers=shop.headers))

    assert await query(orderBy="eventTime") == n(8, 7, 6, 5, 4, 3, 2, 1)  # DESC by default
    assert await query(orderBy="eventTime", orderDirection="ASC") == n(1, 2, 3, 4, 5, 6, 7, 8)
    assert await query(orderBy="recordTime", orderDirection="DESC", eventCountLimit="3") == n(
        8, 7, 6
    )
    assert await query(eventCountLimit="2") == n(1, 2)
    assert await query(maxEventCount="8") == n(1, 2, 3, 4, 5, 6, 7, 8)
    too_many = await client.get(EVENTS, params={"maxEventCount": "7"}, headers=shop.headers)
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "query_too_large"
    # a document-checked parameter counts only what it matches
    assert await query(maxEventCount="2", EQ_type="Temperature") == n(5, 6)

    # Pages, ordered, with a document-checked parameter and a limit across pages.
    seen: list[str] = []
    url: str | None = (
        f"{EVENTS}?perPage=2&orderBy=eventTime&MATCH_anyEPC={SGTIN}*&eventCountLimit=5"
    )
    while url:
        response = await client.get(url, headers=shop.headers)
        seen += ids(response)
        link = response.headers.get("Link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == n(8, 7, 6, 5, 4)


@pytest.mark.parametrize(
    "params",
    [
        {"NOPE": "1"},
        {"EQ_bizstep": "shipping"},  # names are case-sensitive
        {"MATCH_epc": ""},
        {"GE_value": "warm"},
        {"GE_value_CEL": "nan"},
        {"GE_value_CELSIUS": "1"},
        {"orderBy": "bizStep"},
        {"orderDirection": "ASC"},
        {"orderBy": "eventTime", "orderDirection": "UP"},
        {"eventCountLimit": "0"},
        {"maxEventCount": "x"},
        {"eventCountLimit": "1", "maxEventCount": "1"},
        {"EQ_action": "MOVE"},
        {"GE_errorDeclarationTime": "tomorrow"},
        {"EQ_bizTransaction_": "x"},
        {"nextPageToken": "1.2"},
    ],
)
async def test_unknown_and_malformed_parameters_are_400(
    client: httpx.AsyncClient, session: AsyncSession, params: dict[str, str]
) -> None:
    shop = await a_shop(client, session)
    response = await client.get(EVENTS, params=params, headers=shop.headers)
    assert response.status_code == 400, (params, response.text)
    assert response.json()["error"]["code"] in ("query_parameter", "bad_page_token")


async def test_no_parameter_reaches_another_organisations_events(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await captured(client, session, "别人的店")
    mine = await a_shop(client, session, name="我的店")
    for params in (
        {"MATCH_parentID": SSCC},
        {"MATCH_anyEPC": SSCC},
        {"MATCH_inputEPC": SGTIN + "3"},
        {"EQ_bizTransaction_po": "urn:epcglobal:cbv:bt:4012345000009:PO-1"},
        {"EXISTS_errorDeclaration": ""},
        {"EQ_type": "Temperature", "GE_value": "0"},
        {"orderBy": "eventTime"},
        {"maxEventCount": "1"},
    ):
        assert ids(await client.get(EVENTS, params=params, headers=mine.headers)) == [], params


def test_the_document_checks_are_the_parsed_parameters() -> None:
    """The pure parts on their own: parse, then match one event."""
    q = query_params.parse([("EQ_type", "Temperature"), ("GT_value_CEL", "3.5")])
    assert isinstance(q, EventQuery)
    warm = clean(the_events()[5])
    cool = clean(the_events()[4])
    assert event_matches(warm, q)
    assert not event_matches(cool, q)  # 3.5 is not greater than 3.5


DISCOVERY = ("eventTypes", "epcs", "bizSteps", "bizLocations", "readPoints", "dispositions")


async def members(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    """Every member of a discovery endpoint, following its Link headers."""
    found: list[str] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
        body = response.json()
        assert body["type"] == "Collection"
        found += body["member"]
        link = response.headers.get("Link")
        next_url = link.split(">")[0].lstrip("<") if link else None
    return found


async def test_discovery_lists_only_ones_own_values_a_page_at_a_time(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    theirs = await a_shop(client, session, name="别人的店")
    other = event(
        type="TransactionEvent",
        action="ADD",
        epcList=["urn:epc:id:sgtin:4012345.099999.7"],
        bizStep="receiving",
        disposition="in_progress",
        readPoint={"id": "urn:epc:id:sgln:4012345.00099.0"},
        bizLocation={"id": "urn:epc:id:sgln:4012345.00099.1"},
        bizTransactionList=[{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:1:2"}],
    )
    response = await client.post(CAPTURE, json=document(other), headers=theirs.headers)
    assert response.status_code == 202, response.text
    mine = await captured(client, session, "我的店")
    cbv = "https://ref.gs1.org/cbv/"
    expected = {
        "eventTypes": ["AggregationEvent", "ObjectEvent", "TransformationEvent"],
        "bizSteps": [
            cbv + "BizStep-commissioning",
            cbv + "BizStep-packing",
            cbv + "BizStep-shipping",
        ],
        "bizLocations": [],
        "readPoints": ["urn:epc:id:sgln:4012345.00001.0"],
        "dispositions": [cbv + "Disp-in_transit"],
    }
    theirs_expected = {
        "eventTypes": ["TransactionEvent"],
        "epcs": ["https://id.gs1.org/01/04012345999990/21/7"],
        "bizSteps": [cbv + "BizStep-receiving"],
        "bizLocations": ["urn:epc:id:sgln:4012345.00099.1"],
        "readPoints": ["urn:epc:id:sgln:4012345.00099.0"],
        "dispositions": [cbv + "Disp-in_progress"],
    }
    for what in DISCOVERY:
        listed = await members(client, f"/epcis/{what}?perPage=1", mine.headers)
        if what == "epcs":
            assert listed == sorted(listed)
            assert len(listed) == 4  # sgtin 1, 2, 3 and the output; the SSCC is a parentID
            assert theirs_expected["epcs"][0] not in listed
        else:
            assert listed == expected[what], what
        assert await members(client, f"/epcis/{what}", theirs.headers) == theirs_expected[what]
    bad = await client.get("/epcis/epcs?nextPageToken=%25%25", headers=mine.headers)
    assert bad.status_code == 400


def more_events() -> list[dict[str, Any]]:
    """Four events for the location hierarchy, persistent dispositions, transformation ids,
    quantities and the sensor fields beyond values."""
    gln = "urn:epc:id:sgln:4012345.00001"
    lot = "urn:epc:class:lgtin:4012345.012345.L1"
    return [
        event(
            eventID=n(1)[0],
            readPoint={"id": f"{gln}.0"},
            persistentDisposition={"set": ["completeness_inferred"]},
            epcList=[],
            quantityList=[{"epcClass": lot, "quantity": 20, "uom": "KGM"}],
        ),
        event(
            eventID=n(2)[0],
            readPoint={"id": f"{gln}.7"},
            bizLocation={"id": "https://id.gs1.org/414/4012345000016/254/9"},
            epcList=[],
            quantityList=[{"epcClass": lot, "quantity": 5}],
        ),
        clean(
            event(
                eventID=n(3)[0],
                type="TransformationEvent",
                action=None,
                epcList=None,
                transformationID="urn:uuid:7e000000-0000-4000-8000-000000000001",
                inputEPCList=["urn:epc:id:sgtin:4012345.012345.9"],
                readPoint={"id": "urn:epc:id:sgln:4012345.00002.0"},
                persistentDisposition={"unset": ["completeness_verified"]},
            )
        ),
        event(
            eventID=n(4)[0],
            readPoint={"id": "urn:epc:id:sgln:4012345.00003.0"},
            sensorElementList=[
                {
                    "sensorMetadata": {
                        "deviceID": "urn:epc:id:giai:4000001.111",
                        "startTime": "2024-05-04T06:00:00+08:00",
                        "endTime": "2024-05-04T07:00:00+08:00",
                        "bizRules": "https://example.com/rules/cold",
                    },
                    "sensorReport": [
                        {"type": "Temperature", "value": 3.0, "uom": "CEL", "percRank": 50},
                        {"type": "Temperature", "booleanValue": True, "hexBinaryValue": "0A1F",
                         "stringValue": "door closed", "time": "2024-05-04T06:30:00+08:00"},
                    ],
                }
            ],
        ),
    ]  # fmt: skip


async def test_locations_dispositions_transformations_quantities_and_sensor_fields(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session, name="另一家店")
    response = await client.post(CAPTURE, json=document(*more_events()), headers=shop.headers)
    assert response.status_code == 202, response.text

    async def query(**params: Any) -> list[str]:
        return ids(await client.get(EVENTS, params=params, headers=shop.headers))

    # WD_: the GLN itself and its sub-locations (extensions), in either notation.
    assert await query(WD_readPoint="urn:epc:id:sgln:4012345.00001.0") == n(1, 2)
    assert await query(WD_readPoint="https://id.gs1.org/414/4012345000016") == n(1, 2)
    assert await query(EQ_readPoint="urn:epc:id:sgln:4012345.00001.0") == n(1)
    assert await query(WD_readPoint="urn:epc:id:sgln:4012345.00001.7") == n(2)
    assert await query(WD_bizLocation="urn:epc:id:sgln:4012345.00001.0") == n(2)
    assert await query(WD_bizLocation="urn:epc:id:sgln:401234.500001.9") == n(2)
    assert await query(WD_readPoint="urn:linli:kitchen:1") == []
    # Persistent dispositions, any CBV notation; transformation ids.
    assert await query(EQ_persistentDisposition_set="completeness_inferred") == n(1)
    assert await query(
        EQ_persistentDisposition_unset="https://ref.gs1.org/cbv/Disp-completeness_verified"
    ) == n(3)
    assert await query(EQ_persistentDisposition_set="completeness_verified") == []
    assert await query(EQ_transformationID="urn:uuid:7e000000-0000-4000-8000-000000000001") == n(3)
    # Quantities: some quantity element meets every bound.
    assert await query(GT_quantity="5") == n(1)
    assert await query(GE_quantity="5", LT_quantity="20") == n(2)
    assert await query(EQ_quantity="20") == n(1)
    assert await query(LE_quantity="1") == []
    # Sensor fields: of the report, else of its element's sensorMetadata, on one report.
    assert await query(EQ_deviceID="urn:epc:id:giai:4000001.111") == n(4)
    assert await query(EQ_bizRules="https://example.com/rules/cold", GE_value="2") == n(4)
    assert await query(EQ_booleanValue="true", EQ_stringValue="door closed") == n(4)
    assert await query(EQ_booleanValue="true", GE_value="2") == []  # not on one report
    assert await query(EQ_hexBinaryValue="0a1f") == n(4)
    assert await query(GE_percRank="50") == n(4)
    assert await query(
        GE_time="2024-05-04T06:00:00+08:00", LT_time="2024-05-04T07:00:00+08:00"
    ) == n(4)
    assert await query(GE_startTime="2024-05-04T06:30:00+08:00") == []
    assert await query(LT_endTime="2024-05-04T07:00:01+08:00") == n(4)
    # Malformed: 400 naming the parameter.
    for params in ({"EQ_booleanValue": "yes"}, {"GT_quantity": "many"}, {"GE_time": "today"}):
        answer = await client.get(EVENTS, params=params, headers=shop.headers)
        assert answer.status_code == 400, params
        assert list(answer.json()["error"]["fields"]) == list(params)

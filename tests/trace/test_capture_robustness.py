"""Capture never answers 5xx: GS1 examples with values swapped for random JSON at random places
(schemathesis reaches /epcis/capture only anonymously or without the capture permission)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace import capture_checks
from linli.trace.models import TraceCapture
from tests.trace.epcis_data import EXAMPLES, load
from tests.trace.helpers import CAPTURE, a_shop

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5e308,
    "",
    "x",
    "urn:epc:id:sgtin:1.2.3",
    "2024-02-30T00:00:00Z",
    "https://ref.gs1.org/cbv/BizStep-",
    "\u0000",
    "\ud800",
    "\x7f\x85",
    "汉字" * 200,
    [],
    {},
    [None],
    {"a": [1]},
    "9" * 400,
    {"type": "ObjectEvent"},
    ["urn:epc:class:lgtin:4012345.012345.%ZZ"],
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutated(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(document)[1:])
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    return document


async def test_mutated_documents_get_202_or_400_never_5xx(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    rng = random.Random(20261126)
    documents = [load(path) for path in EXAMPLES]
    statuses: dict[int, int] = {}
    for _ in range(300):
        body = json.dumps(_mutated(rng.choice(documents), rng))  # ASCII: surrogates escaped
        response = await client.post(
            CAPTURE, content=body, headers={**shop.headers, "Content-Type": "application/json"}
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (202, 400), response.text
    assert statuses.get(400, 0) > 100  # most mutations break something
    jobs = await session.scalar(select(func.count()).select_from(TraceCapture))
    assert jobs == 300  # every attempt left a job, succeeded or failed


def _bad_events(n: int) -> dict[str, Any]:
    """A document of `n` events, each breaking the schema (no eventTime)."""
    events = [{"type": "ObjectEvent", "action": "OBSERVE", "epcList": []} for _ in range(n)]
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-02T08:00:00Z",
        "epcisBody": {"eventList": events},
    }


async def test_the_event_count_is_checked_before_the_schema(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await a_shop(client, session)
    validated: list[int] = []
    real = capture_checks.validator()

    class Counting:
        def iter_errors(self, document: Any) -> Iterator[Any]:
            validated.append(1)
            yield from real.iter_errors(document)

    monkeypatch.setattr(capture_checks, "validator", lambda: Counting())
    response = await client.post(CAPTURE, json=_bad_events(1001), headers=shop.headers)
    # over the capture limit: 413 (EPCIS REST binding), the limit advertised
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "capture_too_large"
    assert response.json()["error"]["fields"] == {"epcisBody.eventList": "at most 1000 events"}
    assert response.headers["GS1-EPCIS-Capture-Limit"] == "1000"
    assert validated == []


async def test_schema_validation_stops_at_a_bounded_number_of_errors(
    client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await a_shop(client, session)
    pulled: list[int] = []
    real = capture_checks.validator()

    class Counting:
        def iter_errors(self, document: Any) -> Iterator[Any]:
            for error in real.iter_errors(document):
                pulled.append(1)
                yield error

    monkeypatch.setattr(capture_checks, "validator", lambda: Counting())
    response = await client.post(CAPTURE, json=_bad_events(500), headers=shop.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["fields"] == {"epcisBody.eventList[0].eventTime": "is required"}
    assert len(pulled) == capture_checks.MAX_SCHEMA_ERRORS


async def test_deeply_nested_documents_are_refused_not_crashed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    headers = {**shop.headers, "Content-Type": "application/json"}
    deep = await client.post(CAPTURE, content="[" * 200_000, headers=headers)
    assert deep.status_code == 400, deep.text
    assert deep.json()["error"]["code"] == "malformed_json"
    document = _bad_events(1)
    document["epcisBody"]["eventList"][0]["example:x"] = json.loads("[" * 500 + "]" * 500)
    nested = await client.post(CAPTURE, json=document, headers=headers)
    assert nested.status_code == 400, nested.text
    assert nested.json()["error"]["message"].endswith("nested deeper than 32 levels")

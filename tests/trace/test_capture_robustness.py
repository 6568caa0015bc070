"""Capture never answers 5xx: GS1 examples with values swapped for random JSON at random places
(schemathesis reaches /epcis/capture only anonymously or without the capture permission)."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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

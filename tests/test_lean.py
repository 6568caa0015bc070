"""The lean routes (linli.lean) answer exactly as the FastAPI routes they stand for: the same
requests, good and bad, sent to an application serving them lean and to one serving them
through FastAPI (`lean_routes=False`) on the same database get the same statuses, headers
and bodies (ids, keys and times aside, which differ by construction)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from linli import lean
from linli.app import create_app
from linli.config import Settings
from linli.payments import providers
from tests.factories import make_token, make_user
from tests.groupbuy.helpers import (
    ORDERS,
    a_pickup_point,
    a_shop,
    item,
    listed_sku,
    live_in,
    new_key,
    published_campaign,
    residents,
    signed_payment,
)

# Values that name this request's own rows or moments: compared by shape, not by value.
_OWN = re.compile(r"(^|_)id$|_at$|^public_id$|^pay_url$|^idempotency_key$|^provider_txn_id$")


@pytest.fixture
async def plain(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same application on the same database, every route through FastAPI."""
    application = create_app(settings.model_copy(update={"lean_routes": False}))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def normalised(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalised(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, key) for v in value]
    if _OWN.search(key) and value is not None:
        return f"<{type(value).__name__}>"
    return value


def answer(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    volatile = {"date", "content-length", "set-cookie", "etag"}
    headers = {k: v for k, v in response.headers.items() if k not in volatile}
    try:
        body = normalised(response.json())
    except ValueError:
        body = response.text
    return response.status_code, headers, body


async def both(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, path: str, **request: Any
) -> tuple[int, dict[str, str], Any]:
    """Send one request to each application (the second may differ: `request["second"]`)."""
    second = request.pop("second", request)
    lean_answer = answer(await client.post(path, **request))
    plain_answer = answer(await plain.post(path, **second))
    assert lean_answer == plain_answer
    return lean_answer


def test_the_hot_routes_are_lean_and_exist_in_fastapi(app: FastAPI) -> None:
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert set(lean.ROUTES) == {("POST", ORDERS), ("POST", providers.CALLBACK_PATH)}
    assert set(lean.ROUTES) <= served  # documented in OpenAPI by their FastAPI twins


async def test_order_refusals_and_answers_are_the_same_lean_and_through_fastapi(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> None:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku, stock=3, per_resident_limit=1))
    item_id = campaign["items"][0]["id"]
    point = await a_pickup_point(session)
    first, second, third, fourth = await residents(session, 4)
    for resident in (first, second, third, fourth):
        await live_in(session, resident.user, point)
    account_only = await make_token(
        session, await make_user(session, name="只读"), scopes=("account",)
    )
    body = {"campaign_id": campaign["id"], "lines": [{"item_id": item_id, "quantity": 1}]}
    key = {"Idempotency-Key": "k" * 12}

    # who: no token (with or without valid inputs), a malformed header, an unknown token,
    # a token without the scope
    assert (await both(client, plain, ORDERS, json=body, headers=key))[0] == 401
    assert (await both(client, plain, ORDERS, content=b"{"))[0] == 401
    for authorization in ("Basic abc", "Bearer ", "Bearer not-a-token"):
        headers = key | {"Authorization": authorization}
        assert (await both(client, plain, ORDERS, json=body, headers=headers))[0] == 401
    headers = key | {"Authorization": f"Bearer {account_only}"}
    assert (await both(client, plain, ORDERS, json=body, headers=headers))[0] == 403

    # what: the key, then the body (in both languages)
    for bad_key in ({}, {"Idempotency-Key": "short"}, {"Idempotency-Key": "x" * 65}):
        for language in ("en", "zh-CN"):
            headers = first.headers | bad_key | {"Accept-Language": language}
            assert (await both(client, plain, ORDERS, json=body, headers=headers))[0] == 422
    bad_bodies: list[dict[str, Any]] = [
        {"content": b"{not json"},
        {"content": b"[]"},
        {"content": "“引号”".encode()},
        {"json": {}},
        {"json": {"campaign_id": "one", "lines": [{"item_id": item_id, "quantity": 0}]}},
        {"json": body | {"lines": []}},
        {"json": body | {"surprise": 1}},
        {"json": {"campaign_id": 10**30, "lines": [{"item_id": item_id, "quantity": 1}]}},
    ]
    for bad in bad_bodies:
        headers = first.headers | key | {"Content-Type": "application/json"}
        status, _headers, _body = await both(client, plain, ORDERS, headers=headers, **bad)
        assert 400 <= status < 500

    # placed, placed again with the same key, sold out
    lean_key, plain_key = new_key(), new_key()
    placed, again = [
        await both(
            client,
            plain,
            ORDERS,
            json=body,
            headers=first.headers | {"Idempotency-Key": lean_key},
            second={"json": body, "headers": second.headers | {"Idempotency-Key": plain_key}},
        )
        for _ in range(2)
    ]
    assert placed[0] == 201
    assert again[0] == 200
    assert again[2] == placed[2]
    limit = await both(client, plain, ORDERS, json=body, headers=first.headers | key)
    assert limit[0] == 409  # one per resident
    await client.post(ORDERS, json=body, headers=third.headers | {"Idempotency-Key": new_key()})
    sold_out = await both(
        client, plain, ORDERS, json=body, headers=fourth.headers | {"Idempotency-Key": new_key()}
    )
    assert sold_out[0] == 409
    assert sold_out[2]["error"]["code"] == "sold_out"


async def test_payment_notifications_are_the_same_lean_and_through_fastapi(
    client: httpx.AsyncClient,
    plain: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> None:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku, stock=10))
    body = {
        "campaign_id": campaign["id"],
        "lines": [{"item_id": campaign["items"][0]["id"], "quantity": 1}],
    }
    point = await a_pickup_point(session)
    buyers = await residents(session, 2)
    payments = []
    for buyer in buyers:
        await live_in(session, buyer.user, point)
        placed = await client.post(
            ORDERS, json=body, headers=buyer.headers | {"Idempotency-Key": new_key()}
        )
        assert placed.status_code == 201, placed.text
        payments.append(placed.json()["payment"])
    (lean_headers, lean_body), (plain_headers, plain_body) = (
        signed_payment(settings, p) for p in payments
    )
    path = providers.CALLBACK_PATH

    # refused: unsigned, a wrong signature, not JSON
    assert (await both(client, plain, path, content=lean_body))[0] >= 400
    forged = lean_headers | {k: "0" * 64 for k in lean_headers if "signature" in k.lower()}
    assert (await both(client, plain, path, content=lean_body, headers=forged))[0] >= 400
    assert (await both(client, plain, path, content=b"{", headers=lean_headers))[0] >= 400
    # accepted, then the same notification again
    for _ in range(2):
        accepted = await both(
            client,
            plain,
            path,
            content=lean_body,
            headers=lean_headers,
            second={"content": plain_body, "headers": plain_headers},
        )
        assert accepted[0] == 200

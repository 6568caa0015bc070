"""Arranging group-buying tests: a verified merchant with listed SKUs, a community with a
pickup point, residents with bearer tokens, campaigns and orders through the API."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation, User
from linli.community.models import Community, PickupPoint, Residence
from linli.config import Settings
from linli.groupbuy import group_commit
from linli.groupbuy.models import CampaignItem
from linli.payments import providers
from tests.catalog.helpers import add_profile, product_body
from tests.factories import make_org, make_token, make_user
from tests.queues import released_together

CAMPAIGNS = "/api/v1/groupbuy/campaigns"
ORDERS = "/api/v1/groupbuy/orders"
PRODUCTS = "/api/v1/catalog/merchant/products"
_keys = itertools.count(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_key() -> str:
    return f"order-key-{next(_keys):06d}"


@dataclass
class Shop:
    owner: User
    organisation: Organisation
    headers: dict[str, str]


async def a_shop(client: httpx.AsyncClient, session: AsyncSession, name: str = "邻里鲜果") -> Shop:
    """A verified merchant (fresh food and groceries in scope) with an owner's bearer token."""
    owner = await make_user(session, name="店主")
    organisation = await make_org(session, "merchant", owner=owner, name=name)
    await add_profile(session, organisation, scope=("fresh_food", "groceries"))
    token = await make_token(session, owner, organisation=organisation)
    return Shop(owner, organisation, bearer(token))


async def listed_sku(
    client: httpx.AsyncClient,
    shop: Shop,
    *,
    stock: int = 100,
    price_fen: int = 1990,
    fresh: bool = False,
    code: str = "STD",
) -> int:
    """A listed product with one SKU; fresh: chilled fresh food, else ambient groceries."""
    overrides: dict[str, Any] = {
        "sku": {"code": code, "price_fen": price_fen, "stock": stock},
        "gtin": None,
    }
    if not fresh:
        overrides |= {"category": "groceries", "storage_class": "ambient", "name": "东北大米"}
    created = await client.post(PRODUCTS, json=product_body(**overrides), headers=shop.headers)
    assert created.status_code == 201, created.text
    product = created.json()
    listed = await client.post(f"{PRODUCTS}/{product['id']}/list", headers=shop.headers)
    assert listed.status_code == 200, listed.text
    sku_id: int = product["skus"][0]["id"]
    return sku_id


def campaign_body(*items: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = clock.now()
    cutoff = now + timedelta(days=1)
    body: dict[str, Any] = {
        "title": "周末团购",
        "opens_at": (now - timedelta(hours=1)).isoformat(),
        "cutoff_at": cutoff.isoformat(),
        "pickup_date": (cutoff + timedelta(days=2)).date().isoformat(),
        "items": list(items),
    }
    body.update(overrides)
    return body


def item(sku_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "sku_id": sku_id,
        "group_price_fen": 1500,
        "per_resident_limit": 2,
        "stock": 50,
        "min_group_qty": 5,
    } | overrides


async def published_campaign(
    client: httpx.AsyncClient, shop: Shop, *items: dict[str, Any], **overrides: Any
) -> dict[str, Any]:
    created = await client.post(
        CAMPAIGNS, json=campaign_body(*items, **overrides), headers=shop.headers
    )
    assert created.status_code == 201, created.text
    published = await client.post(
        f"{CAMPAIGNS}/{created.json()['id']}/publish", headers=shop.headers
    )
    assert published.status_code == 200, published.text
    body: dict[str, Any] = published.json()
    return body


async def a_pickup_point(session: AsyncSession) -> int:
    now = clock.now()
    community = Community(
        name="张江汤臣豪园",
        province_code="310000",
        city_code="310100",
        district_code="310115",
        address="上海市浦东新区张江路1号",
        latitude_e6=31_203_100,
        longitude_e6=121_590_700,
        created_at=now,
    )
    session.add(community)
    await session.flush()
    point = PickupPoint(
        community_id=community.id,
        name="3号楼门卫室",
        address="张江路1号3号楼",
        opening_hours="08:00-20:00",
        daily_capacity=500,
        active=True,
        created_at=now,
    )
    session.add(point)
    await session.commit()
    return point.id


async def live_in(session: AsyncSession, user: User, point_id: int) -> None:
    point = await session.get(PickupPoint, point_id)
    assert point is not None
    session.add(
        Residence(
            user_id=user.id,
            community_id=point.community_id,
            pickup_point_id=point_id,
            joined_at=clock.now(),
        )
    )
    await session.commit()


@dataclass
class Resident:
    user: User
    headers: dict[str, str]


async def residents(session: AsyncSession, n: int) -> list[Resident]:
    made = []
    for i in range(n):
        user = await make_user(session, name=f"居民{i}")
        token = await make_token(session, user, scopes=("account", "resident"))
        made.append(Resident(user, bearer(token)))
    return made


async def order(
    client: httpx.AsyncClient,
    resident: Resident,
    campaign_id: int,
    lines: list[tuple[int, int]],
    *,
    key: str | None = None,
    point_id: int | None = None,
    accept: bool = False,
) -> httpx.Response:
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "lines": [{"item_id": i, "quantity": q} for i, q in lines],
        "accept_return_terms": accept,
    }
    if point_id is not None:
        body["pickup_point_id"] = point_id
    return await client.post(
        ORDERS, json=body, headers=resident.headers | {"Idempotency-Key": key or new_key()}
    )


def signed_payment(settings: Settings, payment: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The sandbox provider's signed success notification for a checkout's payment."""
    return providers.signed_notification(
        settings.payment_sandbox_secret.get_secret_value(),
        intent_public_id=payment["public_id"],
        amount_fen=payment["amount_fen"],
        provider_txn_id=f"sbx-{payment['public_id'][:8]}",
    )


async def pay(
    client: httpx.AsyncClient, settings: Settings, payment: dict[str, Any]
) -> httpx.Response:
    headers, body = signed_payment(settings, payment)
    response = await client.post(providers.CALLBACK_PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def remaining(app: FastAPI, item_id: int) -> int:
    async with app.state.sessionmaker() as s:
        value = await s.scalar(select(CampaignItem.remaining).where(CampaignItem.id == item_id))
    assert value is not None
    return int(value)


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def in_one_batch(
    app: FastAPI, item_id: int, requests: list[Callable[[], Coroutine[Any, Any, httpx.Response]]]
) -> tuple[list[httpx.Response], list[int]]:
    """Let the requests queue up for the item in this order, then go: they are placed
    together (one batch per resident repeat). The answers and the size of each batch."""
    queue = group_commit.queue_of(app.state.engine.sync_engine, item_id)
    return await released_together(queue, requests, group_commit, "_run")

"""Every price a SKU gets is in price_changes (who, when, how), on every path; refusals none."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.catalog.models import PriceChange
from linli.clock import FrozenClock
from linli.outbox import OutboxEvent
from tests.catalog.helpers import (
    PRODUCTS,
    SKUS,
    as_merchant,
    create_product,
    make_merchant,
    price_changes,
    sku_row,
)
from tests.factories import login


def history(rows: list[PriceChange]) -> list[tuple[int | None, int, str]]:
    return [(r.old_price_fen, r.new_price_fen, r.source) for r in rows]


async def test_api_paths_record_create_and_api_changes(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    owner, organisation = await as_merchant(client, session)
    product = await create_product(client)
    (first,) = product["skus"]
    frozen_clock.advance(timedelta(hours=1))
    added = await client.post(
        f"{PRODUCTS}/{product['id']}/skus", json={"code": "10KG", "price_fen": 10990}
    )
    assert added.status_code == 201, added.text
    frozen_clock.advance(timedelta(hours=1))
    changed = await client.put(f"{SKUS}/{first['id']}/price", json={"price_fen": 4990})
    assert changed.status_code == 200, changed.text
    assert changed.json()["price_fen"] == 4990

    rows = await price_changes(session)
    assert [(r.sku_id, r.old_price_fen, r.new_price_fen, r.source) for r in rows] == [
        (first["id"], None, 5990, "create"),
        (added.json()["id"], None, 10990, "create"),
        (first["id"], 5990, 4990, "api"),
    ]
    assert {(r.user_id, r.organisation_id) for r in rows} == {(owner.id, organisation.id)}
    start = frozen_clock.now() - timedelta(hours=2)
    assert [r.changed_at for r in rows] == [
        start,
        start + timedelta(hours=1),
        start + timedelta(hours=2),
    ]
    listed = await client.get(f"{SKUS}/{first['id']}/prices")
    assert [(p["old_price_fen"], p["new_price_fen"], p["source"]) for p in listed.json()] == [
        (None, 5990, "create"),
        (5990, 4990, "api"),
    ]


async def test_console_paths_record_create_and_edit_changes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, _organisation = await as_merchant(client, session)
    csrf = client.cookies.get(CSRF_COOKIE)
    created = await client.post(
        "/merchant/products",
        data={
            "csrf_token": csrf,
            "category": "fresh_food",
            "name": "烟台红富士苹果",
            "unit": "箱",
            "storage_class": "chilled",
            "code": "5KG",
            "specs": "重量: 5 kg",
            "price": "59.90",
            "stock": "3",
        },
    )
    assert created.status_code == 303, created.text
    product_url = created.headers["location"]
    product_id = int(product_url.rsplit("/", 1)[1])
    added = await client.post(
        f"{product_url}/skus",
        data={"csrf_token": csrf, "code": "10KG", "price": "109.9", "specs": ""},
    )
    assert added.status_code == 303, added.text
    mine = (await client.get(f"{PRODUCTS}/{product_id}")).json()
    first, second = (s["id"] for s in mine["skus"])
    changed = await client.post(
        f"{product_url}/skus/{first}/price", data={"csrf_token": csrf, "price": "¥49.90"}
    )
    assert changed.status_code == 303, changed.text

    assert history(await price_changes(session, first)) == [
        (None, 5990, "create"),
        (5990, 4990, "edit"),
    ]
    assert history(await price_changes(session, second)) == [(None, 10990, "create")]
    assert {r.user_id for r in await price_changes(session)} == {owner.id}
    published = await session.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.event_type == "catalog.PriceChanged")
        .order_by(OutboxEvent.seq)
    )
    assert [(p["sku_id"], p["old_price_fen"], p["new_price_fen"]) for p in published] == [
        (first, None, 5990),
        (second, None, 10990),
        (first, 5990, 4990),
    ]
    page = await client.get(product_url)
    assert "¥49.90" in page.text
    assert "¥59.90 → ¥49.90" in page.text


async def test_refused_or_empty_changes_record_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner_a, shop_a = await make_merchant(session, name="甲店")
    owner_b, shop_b = await make_merchant(session, name="乙店")
    await login(client, owner_a, organisation=shop_a)
    product = await create_product(client)
    sku_id = product["skus"][0]["id"]
    before = history(await price_changes(session))

    for bad in (0, -100, 10**12, 2**63, 12.5, "12元", None, True):
        response = await client.put(f"{SKUS}/{sku_id}/price", json={"price_fen": bad})
        assert response.status_code == 422, (bad, response.text)
    same = await client.put(f"{SKUS}/{sku_id}/price", json={"price_fen": 5990})
    assert same.status_code == 200
    csrf = client.cookies.get(CSRF_COOKIE)
    form = await client.post(
        f"/merchant/products/{product['id']}/skus/{sku_id}/price",
        data={"csrf_token": csrf, "price": "12.345"},
    )
    assert form.status_code == 422
    assert "Enter an amount in yuan" in form.text
    duplicate = await client.post(
        f"{PRODUCTS}/{product['id']}/skus", json={"code": "5KG", "price_fen": 100}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["fields"] == {"code": "Already used for this product."}

    await client.post("/api/v1/accounts/logout")
    await login(client, owner_b, organisation=shop_b)
    stolen = await client.put(f"{SKUS}/{sku_id}/price", json={"price_fen": 1})
    assert stolen.status_code == 404
    csrf = client.cookies.get(CSRF_COOKIE)
    stolen_form = await client.post(
        f"/merchant/products/{product['id']}/skus/{sku_id}/price",
        data={"csrf_token": csrf, "price": "0.01"},
    )
    assert stolen_form.status_code == 404
    assert (await client.get(f"{SKUS}/{sku_id}/prices")).status_code == 404

    assert history(await price_changes(session)) == before == [(None, 5990, "create")]
    assert (await sku_row(session, sku_id)).price_fen == 5990

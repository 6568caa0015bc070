"""No input makes the catalogue API fail with a 500: each is a 4xx that says what to fix."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog.models import Product
from tests.catalog.helpers import (
    PRODUCTS,
    SKUS,
    as_merchant,
    count,
    create_product,
    image_bytes,
    product_body,
    product_row,
)

BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"name": "苹\x00果"}, "name"),
    ({"description": "a\x07b"}, "description"),
    ({"sku": {"specs": {"重\x00量": "5"}}}, "sku.specs"),
    ({"sku": {"specs": {"重量": "5\x00kg"}}}, "sku.specs"),
    ({"sku": {"specs": {f"k{i}": "v" for i in range(21)}}}, "sku.specs"),
    ({"sku": {"specs": {"": "v"}}}, "sku.specs"),
    ({"sku": {"specs": ["重量"]}}, "sku.specs"),
    ({"sku": {"price_fen": -1}}, "sku.price_fen"),
    ({"sku": {"price_fen": 0}}, "sku.price_fen"),
    ({"sku": {"price_fen": 10**40}}, "sku.price_fen"),
    ({"sku": {"price_fen": "5990"}}, "sku.price_fen"),
    ({"sku": {"stock": -1}}, "sku.stock"),
    ({"sku": {"stock": 2**70}}, "sku.stock"),
    ({"sku": {"code": ""}}, "sku.code"),
    ({"sku": {"code": "x" * 41}}, "sku.code"),
    ({"shelf_life_days": 0}, "shelf_life_days"),
    ({"shelf_life_days": 10**20}, "shelf_life_days"),
    ({"storage_class": "warm"}, "storage_class"),
    ({"name": "x" * 121}, "name"),
    ({"category": "weapons"}, "category"),
    ({"category": "x" * 41}, "category"),
    ({"category": "essentials"}, "category"),
    ({"gtin": "6901234567891"}, "gtin"),
    ({"gtin": "69012345678"}, "gtin"),
    ({"gtin": "６９０１２３４５６７８９２"}, "gtin"),
    ({"gtin": "abcdefgh"}, "gtin"),
    ({"owner": 1}, "owner"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREATES)
async def test_bad_products_are_refused_field_by_field(
    client: httpx.AsyncClient, session: AsyncSession, change: dict[str, Any], field: str
) -> None:
    await as_merchant(client, session)
    response = await client.post(PRODUCTS, json=product_body(**change))
    assert response.status_code == 422, response.text
    assert [k for k in response.json()["error"]["fields"] if k.startswith(field)], response.text
    assert await count(session, Product) == 0


async def test_malformed_bodies_and_ids(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await as_merchant(client, session)
    product = await create_product(client)
    sku_id = product["skus"][0]["id"]
    broken = await client.post(
        PRODUCTS, content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_json"
    assert (await client.post(PRODUCTS, json=[])).status_code == 422
    assert (await client.post(PRODUCTS, json={})).status_code == 422
    for url in (
        f"{PRODUCTS}/{2**63}",
        f"{PRODUCTS}/0",
        f"{PRODUCTS}/-1",
        f"{PRODUCTS}/1e3",
        f"/api/v1/catalog/products/{10**30}",
    ):
        assert (await client.get(url)).status_code == 422, url
    assert (await client.put(f"{SKUS}/{2**64}/price", json={"price_fen": 1})).status_code == 422
    assert (await client.put(f"{SKUS}/{sku_id}/price", json={})).status_code == 422
    assert (
        await client.put(f"{SKUS}/{sku_id}/price", json={"price_fen": 1, "x": 1})
    ).status_code == 422
    for q in ("苹\x00果", "x" * 101):
        assert (await client.get("/api/v1/catalog/products", params={"q": q})).status_code == 422
        assert (await client.get(PRODUCTS, params={"q": q})).status_code == 422
    assert (await client.get(PRODUCTS, params={"status": "sold"})).status_code == 422


async def test_partial_updates(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await as_merchant(client, session)
    product = await create_product(client)
    url = f"{PRODUCTS}/{product['id']}"
    before = await product_row(session, product["id"])
    nothing = await client.patch(url, json={})
    assert nothing.status_code == 200
    assert (await product_row(session, product["id"])).updated_at == before.updated_at
    for body in ({"name": None}, {"unit": None}, {"category": None}, {"name": "\x00"}):
        response = await client.patch(url, json=body)
        assert response.status_code == 422, body
    cleared = await client.patch(url, json={"gtin": None, "shelf_life_days": None, "origin": None})
    assert cleared.status_code == 200
    assert (cleared.json()["gtin"], cleared.json()["shelf_life_days"]) == (None, None)
    assert cleared.json()["origin"] == ""
    row = await product_row(session, product["id"])
    assert (row.gtin, row.shelf_life_days, row.origin, row.name) == (
        None,
        None,
        "",
        "烟台红富士苹果",
    )


async def test_odd_uploads(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await as_merchant(client, session)
    product = await create_product(client)
    url = f"{PRODUCTS}/{product['id']}/images"
    named = await client.post(
        url, files={"file": ("../../etc/\x00苹果\r\n.jpg", image_bytes(), "image/jpeg")}
    )
    assert named.status_code == 201, named.text
    thumb = await client.get(named.json()["thumbnail_url"])
    assert "etc" not in thumb.headers["content-disposition"]
    assert "%00" not in thumb.headers["content-disposition"]
    not_a_file = await client.post(url, data={"file": "hello"})
    assert not_a_file.status_code == 422
    nothing = await client.post(url)
    assert nothing.status_code == 422
    huge = await client.post(
        url, files={"file": ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (9 * 1024 * 1024), "x")}
    )
    assert huge.status_code == 413

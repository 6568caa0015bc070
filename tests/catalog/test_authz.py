"""Only the merchant's own organisation (owner or staff, acting for it) touches its catalogue.

Merchant B gets 404 for everything of merchant A's (existence is not revealed), and every row
is unchanged afterwards.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.audit.models import AuditEntry
from linli.catalog.models import PriceChange, Product, ProductImage, Sku
from linli.files.models import StoredFile
from tests.catalog.helpers import (
    PRODUCTS,
    SKUS,
    as_merchant,
    count,
    create_listed,
    create_product,
    image_bytes,
    make_merchant,
    product_body,
    product_row,
    sku_row,
)
from tests.factories import grant, login, make_org, make_token, make_user

COUNTED = (PriceChange, Sku, ProductImage, StoredFile, AuditEntry)


def snapshot(product: Product, sku: Sku) -> tuple[Any, ...]:
    return (
        product.name,
        product.status,
        product.category_id,
        product.updated_at,
        sku.price_fen,
        sku.stock,
        sku.specs,
    )


async def test_merchant_b_cannot_read_or_change_merchant_a_s_catalogue(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner_a, shop_a = await make_merchant(session, name="甲店")
    owner_b, shop_b = await make_merchant(session, name="乙店")
    await login(client, owner_a, organisation=shop_a)
    draft = await create_product(client)
    listed = await create_listed(client, name="乙", gtin=None)
    product_id, sku_id = draft["id"], draft["skus"][0]["id"]
    before = snapshot(await product_row(session, product_id), await sku_row(session, sku_id))
    listed_before = (await product_row(session, listed["id"])).status
    rows_before = [await count(session, m) for m in COUNTED]

    await client.post("/api/v1/accounts/logout")
    await login(client, owner_b, organisation=shop_b)
    attempts = [
        ("GET", f"{PRODUCTS}/{product_id}", None),
        ("PATCH", f"{PRODUCTS}/{product_id}", {"name": "被改了"}),
        ("POST", f"{PRODUCTS}/{product_id}/skus", {"code": "X", "price_fen": 1}),
        ("PUT", f"{SKUS}/{sku_id}/price", {"price_fen": 1}),
        ("GET", f"{SKUS}/{sku_id}/prices", None),
        ("POST", f"{SKUS}/{sku_id}/stock-adjustments", {"delta": -5}),
        ("PUT", f"{SKUS}/{sku_id}/stock", {"stock": 0}),
        ("POST", f"{PRODUCTS}/{product_id}/list", None),
        ("POST", f"{PRODUCTS}/{listed['id']}/delist", None),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["code"] == "not_found"
    upload = await client.post(
        f"{PRODUCTS}/{product_id}/images",
        files={"file": ("x.jpg", image_bytes(), "image/jpeg")},
    )
    assert upload.status_code == 404
    mine = (await client.get(PRODUCTS)).json()
    assert (mine["total"], mine["items"]) == (0, [])

    csrf = client.cookies.get(CSRF_COOKIE)
    pages = [
        ("GET", f"/merchant/products/{product_id}", {}),
        ("POST", f"/merchant/products/{product_id}", {"name": "被改了"}),
        ("POST", f"/merchant/products/{product_id}/skus/{sku_id}/stock", {"delta": "-5"}),
        ("POST", f"/merchant/products/{product_id}/list", {}),
        ("POST", f"/merchant/products/{listed['id']}/delist", {}),
    ]
    for method, url, data in pages:
        response = await client.request(
            method, url, data={**data, "csrf_token": csrf} if method == "POST" else None
        )
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Page not found" in response.text

    after = snapshot(await product_row(session, product_id), await sku_row(session, sku_id))
    assert after == before
    assert (await product_row(session, listed["id"])).status == listed_before == "listed"
    rows_after = [await count(session, m) for m in COUNTED]
    # The logins and the switch of organisation are audited; nothing of the catalogue is.
    assert rows_after[:4] == rows_before[:4]
    catalogue_entries = await session.scalars(
        select(AuditEntry.action).where(AuditEntry.organisation_id == shop_b.id)
    )
    assert [a for a in catalogue_entries if a.startswith("catalog.")] == []


async def test_who_may_manage_a_catalogue(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, shop = await make_merchant(session)
    staff = await make_user(session)
    await grant(session, shop, staff, "staff")
    resident = await make_user(session)
    inspector = await make_user(session)
    regulator = await make_org(session, "regulator", owner=inspector, role="inspector")

    # Anonymous: 401. A resident, or a regulator's inspector: 403.
    assert (await client.get(PRODUCTS)).status_code == 401
    await login(client, resident)
    refused = await client.post(PRODUCTS, json=product_body())
    assert refused.status_code == 403
    await client.post("/api/v1/accounts/logout")
    await login(client, inspector, organisation=regulator)
    assert (await client.post(PRODUCTS, json=product_body())).status_code == 403
    assert (await client.get(PRODUCTS)).status_code == 403
    await client.post("/api/v1/accounts/logout")

    # An owner acting as a resident must switch to the shop first.
    await login(client, owner, as_resident=True)
    not_acting = await client.post(PRODUCTS, json=product_body())
    assert not_acting.status_code == 403
    assert not_acting.json()["error"]["code"] == "not_active_organisation"
    await client.post("/api/v1/accounts/logout")

    # Staff manage the catalogue like the owner.
    await login(client, staff, organisation=shop)
    product = await create_product(client)
    assert product["status"] == "draft"
    assert (await client.get(PRODUCTS)).json()["total"] == 1
    assert await count(session, Product) == 1


async def test_tokens_need_the_write_scope_to_change_the_catalogue(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await make_merchant(session)
    reader = await make_token(session, owner, scopes=("org:read",), organisation=shop)
    writer = await make_token(session, owner, scopes=("org:read", "org:write"), organisation=shop)
    read_only = {"Authorization": f"Bearer {reader}"}
    refused = await client.post(PRODUCTS, json=product_body(), headers=read_only)
    assert refused.status_code == 403
    assert "org:write" in refused.json()["error"]["message"]
    created = await client.post(
        PRODUCTS, json=product_body(), headers={"Authorization": f"Bearer {writer}"}
    )
    assert created.status_code == 201, created.text
    listing = await client.get(PRODUCTS, headers=read_only)
    assert listing.json()["total"] == 1
    assert listing.json()["items"][0]["skus"][0]["stock"] == 10


async def test_suppliers_have_a_catalogue_too(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, kind="supplier", name="供货商")
    listed = await create_listed(client)
    assert listed["merchant"]["name"] == "供货商"

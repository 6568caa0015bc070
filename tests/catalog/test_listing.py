"""Listing: only verified, unpaused merchants; licensed categories only within the business
scope; prohibited categories never. Each decision is audited with the rule it applied."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.catalog.models import Product
from linli.categories.models import Category
from tests.catalog.helpers import (
    PRODUCTS,
    add_profile,
    as_merchant,
    create_product,
    product_row,
)
from tests.factories import make_org, make_token, make_user

SEARCH = "/api/v1/catalog/products"


async def audit_entries(session: AsyncSession, action: str) -> list[AuditEntry]:
    await session.commit()
    return list(
        (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        ).all()
    )


async def test_listing_is_audited_with_the_rule_and_shows_the_product(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await as_merchant(client, session, scope=("fresh_food",))
    product = await create_product(client)
    assert (await client.get(f"{SEARCH}/{product['id']}")).status_code == 404  # a draft
    listed = await client.post(f"{PRODUCTS}/{product['id']}/list")
    assert listed.status_code == 200, listed.text
    assert listed.json()["status"] == "listed"
    (entry,) = await audit_entries(session, "catalog.product_listed")
    assert (entry.user_id, entry.organisation_id, entry.target_id) == (
        owner.id,
        shop.id,
        str(product["id"]),
    )
    assert entry.details == {
        "category": "fresh_food",
        "rule_id": "market_access.negative_list",
        "rule_version": 1,
    }
    public = await client.get(f"{SEARCH}/{product['id']}")
    assert public.status_code == 200
    assert public.json()["name"] == "烟台红富士苹果"
    again = await client.post(f"{PRODUCTS}/{product['id']}/list")
    assert again.status_code == 200
    assert len(await audit_entries(session, "catalog.product_listed")) == 1


async def test_a_parent_category_in_the_scope_covers_its_children(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, scope=("essentials",))
    product = await create_product(client, category="groceries")
    assert (await client.post(f"{PRODUCTS}/{product['id']}/list")).status_code == 200


async def test_unlicensed_categories_need_no_scope(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, scope=("fresh_food",))
    product = await create_product(client, category="books", gtin=None)
    assert (await client.post(f"{PRODUCTS}/{product['id']}/list")).status_code == 200


async def test_licensed_category_outside_the_business_scope_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, scope=("smartphones",))
    product = await create_product(client, category="health_food", gtin=None)
    refused = await client.post(f"{PRODUCTS}/{product['id']}/list")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "outside_business_scope"
    assert error["message"] == (
        "Health food needs a licence: it must be in your business scope before you can list in it."
    )
    assert error["fields"] == {"category": "Outside your business scope."}
    assert (await product_row(session, product["id"])).status == "draft"
    (entry,) = await audit_entries(session, "catalog.listing_refused")
    assert entry.details == {
        "reason": "outside_business_scope",
        "category": "health_food",
        "rule_id": "market_access.negative_list",
        "rule_version": 1,
    }
    assert await audit_entries(session, "catalog.product_listed") == []


async def test_moving_a_listed_product_out_of_scope_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, scope=("smartphones",))
    product = await create_product(client, category="smartphones", gtin=None)
    assert (await client.post(f"{PRODUCTS}/{product['id']}/list")).status_code == 200
    category_before = (await product_row(session, product["id"])).category_id
    moved = await client.patch(f"{PRODUCTS}/{product['id']}", json={"category": "fresh_food"})
    assert moved.status_code == 422
    assert moved.json()["error"]["code"] == "outside_business_scope"
    row = await product_row(session, product["id"])
    assert (row.status, row.category_id) == ("listed", category_before)
    fine = await client.patch(f"{PRODUCTS}/{product['id']}", json={"category": "wearables"})
    assert fine.status_code == 200
    assert fine.json()["category"]["code"] == "wearables"
    (entry,) = await audit_entries(session, "catalog.product_updated")
    assert entry.details == {
        "changes": {"category": "wearables"},
        "rule_id": "market_access.negative_list",
        "rule_version": 1,
    }


async def test_merchants_without_a_profile_or_paused_cannot_list(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, shop = await as_merchant(client, session, scope=None)
    product = await create_product(client)
    refused = await client.post(f"{PRODUCTS}/{product['id']}/list")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "not_verified"

    await add_profile(session, shop, scope=("fresh_food",), paused=True)
    paused = await client.post(f"{PRODUCTS}/{product['id']}/list")
    assert paused.status_code == 422
    assert paused.json()["error"]["code"] == "listings_paused"
    assert "paused" in paused.json()["error"]["message"]
    assert (await product_row(session, product["id"])).status == "draft"
    reasons = [e.details["reason"] for e in await audit_entries(session, "catalog.listing_refused")]
    assert reasons == ["not_verified", "listings_paused"]


async def test_prohibited_categories_can_never_be_listed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, shop = await as_merchant(client, session, scope=("health", "drugs", "tobacco"))
    created = await client.post(
        PRODUCTS,
        json={
            "category": "drugs",
            "name": "感冒灵",
            "unit": "盒",
            "sku": {"code": "A", "price_fen": 1500},
        },
    )
    assert created.status_code == 422
    assert created.json()["error"]["code"] == "prohibited_category"
    assert created.json()["error"]["message"] == (
        "Drugs may not be sold on this platform (negative list for market access)."
    )
    # A product that got into a prohibited category some other way (an older rule, an
    # import) still cannot be listed, even with the category in the business scope.
    tobacco = await session.scalar(select(Category.id).where(Category.code == "tobacco"))
    assert tobacco is not None
    now = clock.now()
    row = Product(
        organisation_id=shop.id,
        category_id=tobacco,
        name="香烟",
        description="",
        unit="条",
        storage_class="ambient",
        origin="",
        status="draft",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.commit()
    refused = await client.post(f"{PRODUCTS}/{row.id}/list")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "prohibited_category"
    assert (await product_row(session, row.id)).status == "draft"
    moved = await client.post(
        PRODUCTS,
        json={
            "category": "health",
            "name": "x",
            "unit": "盒",
            "sku": {"code": "A", "price_fen": 1},
        },
    )
    assert moved.status_code == 422
    assert moved.json()["error"]["code"] == "category_too_broad"


async def test_delisting_and_platform_review(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    product = await create_product(client)
    not_listed = await client.post(f"{PRODUCTS}/{product['id']}/delist")
    assert not_listed.status_code == 409
    assert (await client.post(f"{PRODUCTS}/{product['id']}/list")).status_code == 200
    await client.post("/api/v1/accounts/logout")

    operator = await make_user(session)
    platform = await make_org(session, "platform", owner=operator, role="operator")
    token = await make_token(session, operator, scopes=("platform",), organisation=platform)
    delisted = await client.post(
        f"{PRODUCTS}/{product['id']}/delist", headers={"Authorization": f"Bearer {token}"}
    )
    assert delisted.status_code == 200, delisted.text
    assert delisted.json()["status"] == "delisted"
    (entry,) = await audit_entries(session, "catalog.product_delisted")
    assert entry.user_id == operator.id
    assert entry.organisation_id == product["merchant"]["id"]
    # Reviewers delist; they do not edit or list.
    refused = await client.post(
        f"{PRODUCTS}/{product['id']}/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403
    assert (await client.get(f"{SEARCH}/{product['id']}")).status_code == 404

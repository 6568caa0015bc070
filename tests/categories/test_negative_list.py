"""One negative list for merchant onboarding and product listing. They used to be two
implementations that disagreed: onboarding read the national version and refused only the
categories named on the list; listing read the organisation's local version and refused
everything below a listed category too. "Fitness" under a district's version prohibiting
"Health" was accepted in a business scope and refused as a product category."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.categories import negative_list
from linli.rules.defaults import DEFAULT_RULES, SINCE
from linli.rules.models import RuleVersion
from tests.catalog.helpers import PRODUCTS, add_profile
from tests.factories import login, make_org, make_user
from tests.merchants.test_onboarding_api import application_body

DISTRICT = "370686"  # the applicant's district in application_body
MAT = {
    "category": "fitness",
    "name": "瑜伽垫",
    "unit": "张",
    "sku": {"code": "A", "price_fen": 9900},
}


async def a_local_list_prohibiting_health(session: AsyncSession) -> None:
    (national,) = [r for r in DEFAULT_RULES if r["rule_id"] == negative_list.NEGATIVE_LIST]
    values = dict(national["values"])
    values["prohibited"] = [*values["prohibited"], "health"]
    session.add(
        RuleVersion(
            rule_id=negative_list.NEGATIVE_LIST,
            version=2,
            jurisdiction=DISTRICT,
            title="Local negative list",
            legal_basis="District measures",
            effective_from=SINCE,
            effective_to=None,
            values=values,
            created_at=clock.now(),
        )
    )
    await session.commit()


async def test_onboarding_and_listing_agree_on_every_category_under_each_version(
    session: AsyncSession,
) -> None:
    await a_local_list_prohibiting_health(session)
    for region, version in (("", 1), (DISTRICT, 2)):
        market = await negative_list.in_force(session, region)
        assert (market.rule_id, market.version) == (negative_list.NEGATIVE_LIST, version)
        for category in market.tree.rows:
            in_scope = bool(market.check_scope([category.code]).prohibited)
            assert in_scope == market.prohibits(category), (region, category.code)
    local = await negative_list.in_force(session, DISTRICT)
    assert local.prohibits(local.tree.by_code["fitness"])
    national = await negative_list.in_force(session, "")
    assert not national.prohibits(national.tree.by_code["fitness"])


async def test_fitness_under_a_local_list_prohibiting_health_is_refused_by_both(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await a_local_list_prohibiting_health(session)
    applicant = await make_user(session)
    await login(client, applicant)
    applied = await client.post(
        "/api/v1/merchants/applications",
        json=await application_body(client, business_scope=["fitness"]),
    )
    assert applied.status_code == 422, applied.text
    assert applied.json()["error"]["code"] == "negative_list"
    assert applied.json()["error"]["fields"]["business_scope"] == (
        "Not allowed on this platform: Fitness."
    )
    refusal = await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "merchants.application_refused")
    )
    assert refusal is not None
    assert (refusal.details["rule_id"], refusal.details["rule_version"]) == (
        negative_list.NEGATIVE_LIST,
        2,
    )

    owner = await make_user(session)
    shop = await make_org(
        session,
        "merchant",
        owner=owner,
        name="栖霞健身",
        province_code="370000",
        city_code="370600",
        district_code=DISTRICT,
    )
    await add_profile(session, shop, scope=("fitness",))
    await login(client, owner, organisation=shop)
    created = await client.post(
        PRODUCTS,
        json={
            "category": "fitness",
            "name": "瑜伽垫",
            "unit": "张",
            "sku": {"code": "A", "price_fen": 9900},
        },
    )
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "prohibited_category"


async def test_elsewhere_the_national_list_lets_fitness_through_both(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await a_local_list_prohibiting_health(session)
    applicant = await make_user(session)
    await login(client, applicant)
    applied = await client.post(
        "/api/v1/merchants/applications",
        json=await application_body(
            client,
            business_scope=["fitness"],
            province_code="350000",
            city_code="350100",
            district_code="350102",
        ),
    )
    assert applied.status_code == 201, applied.text
    assert (applied.json()["rule_id"], applied.json()["rule_version"]) == (
        negative_list.NEGATIVE_LIST,
        1,
    )
    owner = await make_user(session)
    shop = await make_org(
        session,
        "merchant",
        owner=owner,
        name="福州健身",
        province_code="350000",
        city_code="350100",
        district_code="350102",
    )
    await add_profile(session, shop, scope=("fitness",))
    await login(client, owner, organisation=shop)
    created = await client.post(
        PRODUCTS,
        json={
            "category": "fitness",
            "name": "瑜伽垫",
            "unit": "张",
            "sku": {"code": "A", "price_fen": 9900},
        },
    )
    assert created.status_code == 201, created.text
    listed = await client.post(f"{PRODUCTS}/{created.json()['id']}/list")
    assert listed.status_code == 200, listed.text
    entry = await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "catalog.product_listed")
    )
    assert entry is not None
    assert (entry.details["rule_id"], entry.details["rule_version"]) == (
        negative_list.NEGATIVE_LIST,
        1,
    )

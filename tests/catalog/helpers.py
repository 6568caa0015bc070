"""Arranging catalogue tests: verified merchants (profile rows written directly, since the
onboarding flow is built elsewhere), products through the API, images made with Pillow."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation, User
from linli.catalog.models import PriceChange, Product, Sku
from linli.merchants.models import MerchantApplication, MerchantProfile, ThreeSameCertification
from tests.factories import login, make_org, make_user

_codes = itertools.count(1)
PRODUCTS = "/api/v1/catalog/merchant/products"
SKUS = "/api/v1/catalog/merchant/skus"


async def add_profile(
    session: AsyncSession,
    organisation: Organisation,
    *,
    scope: tuple[str, ...] = ("fresh_food",),
    paused: bool = False,
) -> MerchantProfile:
    """A verified MerchantProfile (with the approved application it needs)."""
    now = clock.now()
    owner_id = await session.scalar(select(User.id).order_by(User.id).limit(1))
    assert owner_id is not None
    code = f"91350100M{next(_codes):08d}X"[:18]
    application = MerchantApplication(
        applicant_user_id=owner_id,
        kind=organisation.kind,
        foreign_trade=False,
        company_name=organisation.name,
        credit_code=code,
        legal_representative="张三",
        address="福建省福州市鼓楼区1号",
        province_code="350000",
        city_code="350100",
        district_code="350102",
        business_scope=list(scope),
        contact_name="张三",
        contact_phone="13900000000",
        status="approved",
        rule_id="market_access.negative_list",
        rule_version=1,
        organisation_id=organisation.id,
        created_at=now,
    )
    session.add(application)
    await session.flush()
    profile = MerchantProfile(
        organisation_id=organisation.id,
        application_id=application.id,
        credit_code=code,
        legal_representative="张三",
        address="福建省福州市鼓楼区1号",
        business_scope=list(scope),
        verified_at=now,
        next_verification_due=now + timedelta(days=180),
        listings_paused=paused,
        paused_reason="reverification_overdue" if paused else None,
    )
    session.add(profile)
    await session.commit()
    return profile


async def certify_export(session: AsyncSession, organisation: Organisation) -> None:
    now = clock.now()
    session.add(
        ThreeSameCertification(
            organisation_id=organisation.id,
            export_standard="EU 2023/915",
            destination_markets=["EU"],
            production_line="1号线",
            certificates=[],
            evidence_file_ids=[],
            status="approved",
            valid_from=now - timedelta(days=1),
            valid_to=now + timedelta(days=300),
            created_at=now,
        )
    )
    await session.commit()


async def make_merchant(
    session: AsyncSession,
    *,
    name: str = "鲜果铺",
    scope: tuple[str, ...] | None = ("fresh_food",),
    paused: bool = False,
    kind: str = "merchant",
) -> tuple[User, Organisation]:
    """An owner and their organisation; verified (with `scope`) unless scope is None."""
    owner = await make_user(session)
    organisation = await make_org(session, kind, owner=owner, name=name)
    if scope is not None:
        await add_profile(session, organisation, scope=scope, paused=paused)
    return owner, organisation


async def as_merchant(
    client: httpx.AsyncClient, session: AsyncSession, **kwargs: Any
) -> tuple[User, Organisation]:
    owner, organisation = await make_merchant(session, **kwargs)
    await login(client, owner, organisation=organisation)
    return owner, organisation


def product_body(**overrides: Any) -> dict[str, Any]:
    sku = {"code": "5KG", "specs": {"重量": "5 kg"}, "price_fen": 5990, "stock": 10}
    sku.update(overrides.pop("sku", {}))
    body: dict[str, Any] = {
        "category": "fresh_food",
        "name": "烟台红富士苹果",
        "description": "脆甜多汁，果径80mm以上",
        "unit": "箱",
        "shelf_life_days": 30,
        "storage_class": "chilled",
        "origin": "山东烟台",
        "gtin": "6901234567892",
        "sku": sku,
    }
    body.update(overrides)
    return body


async def create_product(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post(PRODUCTS, json=product_body(**overrides))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_listed(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    product = await create_product(client, **overrides)
    listed = await client.post(f"{PRODUCTS}/{product['id']}/list")
    assert listed.status_code == 200, listed.text
    result: dict[str, Any] = listed.json()
    return result


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(out, format=fmt)
    return out.getvalue()


async def product_row(session: AsyncSession, product_id: int) -> Product:
    """The product as stored now (a fresh snapshot, not the session's cached copy)."""
    await session.commit()  # a fresh snapshot (commit does not expire what the test holds)
    row = await session.get(Product, product_id, populate_existing=True)
    await session.commit()
    assert row is not None
    return row


async def sku_row(session: AsyncSession, sku_id: int) -> Sku:
    await session.commit()  # a fresh snapshot (commit does not expire what the test holds)
    row = await session.get(Sku, sku_id, populate_existing=True)
    await session.commit()
    assert row is not None
    return row


async def price_changes(session: AsyncSession, sku_id: int | None = None) -> list[PriceChange]:
    await session.commit()  # a fresh snapshot (commit does not expire what the test holds)
    query = select(PriceChange).order_by(PriceChange.id)
    if sku_id is not None:
        query = query.where(PriceChange.sku_id == sku_id)
    rows = list((await session.scalars(query)).all())
    await session.commit()
    return rows


async def count(session: AsyncSession, model: type[Any]) -> int:
    await session.commit()  # a fresh snapshot (commit does not expire what the test holds)
    total = await session.scalar(select(func.count()).select_from(model))
    await session.commit()
    return int(total or 0)

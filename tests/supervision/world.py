"""Arranging supervision rule, alert and case tests: a Shanghai merchant, its regulator, prices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation, User
from linli.catalog.models import PriceChange, Product, Sku
from linli.categories.models import Category
from linli.supervision.alert_models import Alert
from linli.supervision.rule_defaults import BY_ID
from linli.supervision.rule_models import SupervisionRuleVersion
from linli.supervision.rule_service import forget_cached_rules
from tests.factories import grant, make_merchant, make_org, make_user


@dataclass
class World:
    merchant: Organisation
    owner: User
    regulator: Organisation
    officer: User
    inspector: User
    far: Organisation
    far_officer: User


async def a_world(session: AsyncSession) -> World:
    owner = await make_user(session, name="店主")
    merchant = await make_merchant(session, owner, name="浦东菜店")
    merchant.province_code, merchant.city_code, merchant.district_code = (
        "310000",
        "310100",
        "310115",
    )
    officer = await make_user(session, name="科长")
    regulator = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    inspector = await make_user(session, name="检查员")
    await grant(session, regulator, inspector, "inspector")
    far_officer = await make_user(session, name="外地科长")
    far = await make_org(
        session,
        "regulator",
        owner=far_officer,
        name="杭州市场监管局",
        province_code="330000",
        city_code="330100",
    )
    await session.commit()
    return World(merchant, owner, regulator, officer, inspector, far, far_officer)


async def set_rule(session: AsyncSession, rule_id: str, **params: Any) -> None:
    """A national version 2 with `params` changed, in force from now."""
    built_in = BY_ID[rule_id]
    session.add(
        SupervisionRuleVersion(
            rule_id=rule_id,
            version=2,
            jurisdiction="CN",
            title=built_in.title,
            legal_basis=built_in.legal_basis,
            severity=built_in.severity,
            effective_from=clock.now(),
            effective_to=None,
            params={**built_in.params, **params},
            reason="test",
            created_at=clock.now(),
        )
    )
    await session.commit()
    forget_cached_rules()


async def a_sku(
    session: AsyncSession, merchant: Organisation, price_fen: int, *, at: datetime | None = None
) -> Sku:
    category_id = await session.scalar(select(Category.id).where(Category.code == "fresh_food"))
    assert category_id is not None
    now = at or clock.now()
    product = Product(
        organisation_id=merchant.id,
        category_id=category_id,
        name="大白菜",
        unit="kg",
        status="listed",
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    await session.flush()
    sku = Sku(product_id=product.id, code="1KG", specs={}, price_fen=price_fen, created_at=now)
    session.add(sku)
    await session.flush()
    session.add(
        PriceChange(
            sku_id=sku.id,
            old_price_fen=None,
            new_price_fen=price_fen,
            changed_at=now,
            organisation_id=merchant.id,
            source="create",
        )
    )
    await session.commit()
    return sku


async def alerts(session: AsyncSession, rule_id: str | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id)
    if rule_id:
        query = query.where(Alert.rule_id == rule_id)
    return list((await session.scalars(query)).all())

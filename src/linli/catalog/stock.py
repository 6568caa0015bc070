"""The catalogue's stock face: how SKU stock moves, for the merchant's own adjustments and for
other domains (group buying reserves a campaign's units when it is published and releases what
did not sell at its cut-off).

Every move is one conditional UPDATE (never below zero, never above `MAX_STOCK`) and one
`catalog.stock_adjusted` audit entry. Other domains never write `skus` themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit import service as audit
from linli.authz import Actor
from linli.catalog.models import Product, Sku
from linli.catalog.schemas import MAX_STOCK


async def move(
    session: AsyncSession, sku_id: int, delta: int, products: Select[Any] | None
) -> int | None:
    """Add `delta` to the SKU's stock if the result stays within 0..MAX_STOCK (and the SKU is
    one of `products`, when given). The new stock, or None when nothing moved."""
    query = update(Sku).where(
        Sku.id == sku_id, Sku.stock + delta >= 0, Sku.stock + delta <= MAX_STOCK
    )
    if products is not None:
        query = query.where(Sku.product_id.in_(products))
    new_stock = await session.scalar(
        query.values(stock=Sku.stock + delta)
        .returning(Sku.stock)
        .execution_options(synchronize_session=False)
    )
    return None if new_stock is None else int(new_stock)


def record(
    session: AsyncSession, actor: Actor, sku_id: int, delta: int, stock: int, **details: Any
) -> None:
    audit.record(
        session,
        actor,
        "catalog.stock_adjusted",
        target_type="sku",
        target_id=sku_id,
        delta=delta,
        stock=stock,
        **details,
    )


def _listed_product_ids(organisation_id: int) -> Select[Any]:
    return select(Product.id).where(
        Product.organisation_id == organisation_id, Product.status == "listed"
    )


async def reserve(
    session: AsyncSession,
    actor: Actor,
    *,
    organisation_id: int,
    sku_id: int,
    units: int,
    reason: str,
    **details: Any,
) -> bool:
    """Take `units` from a SKU of the organisation's own listed products, for `reason` (e.g.
    "groupbuy.campaign_published"). False, and nothing taken, when there is not enough."""
    new_stock = await move(session, sku_id, -units, _listed_product_ids(organisation_id))
    if new_stock is None:
        return False
    record(
        session,
        actor,
        sku_id,
        -units,
        new_stock,
        reason=reason,
        organisation_id=organisation_id,
        **details,
    )
    return True


async def release(
    session: AsyncSession, actor: Actor, *, sku_id: int, units: int, reason: str, **details: Any
) -> int:
    """Give `units` back to a SKU. The stock never goes above MAX_STOCK: what would is not
    returned, and the audit entry says how many units that was (`not_returned`). Returns the
    units returned."""
    if units <= 0:
        return 0
    new_stock = await move(session, sku_id, units, None)
    if new_stock is not None:
        record(session, actor, sku_id, units, new_stock, reason=reason, **details)
        return units
    # Rare: the merchant raised the stock while the units were reserved. Fill up to the bound
    # (the row is locked, and changed only if it still holds what was read).
    before = await session.scalar(select(Sku.stock).where(Sku.id == sku_id).with_for_update())
    if before is None:  # no such SKU
        return 0
    returned = max(0, MAX_STOCK - int(before))
    await session.execute(
        update(Sku)
        .where(Sku.id == sku_id, Sku.stock == before)
        .values(stock=MAX_STOCK)
        .execution_options(synchronize_session=False)
    )
    record(
        session,
        actor,
        sku_id,
        returned,
        MAX_STOCK,
        reason=reason,
        not_returned=units - returned,
        **details,
    )
    return returned

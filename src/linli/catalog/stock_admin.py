"""The merchant's own stock changes: adjusting by a delta and setting a counted number.

Stock only changes through conditional UPDATEs, never read-then-write; the moves other
domains make go through the `stock.py` face.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit import service as audit
from linli.authz import CATALOG_MANAGE, Actor
from linli.catalog import policies, stock
from linli.catalog.models import Sku
from linli.catalog.schemas import MAX_STOCK
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.i18n import N_


async def adjust_stock(session: AsyncSession, actor: Actor, sku_id: int, delta: int) -> int:
    """Add `delta` (negative: take away) in one conditional UPDATE; never below zero."""
    if delta == 0 or not -MAX_STOCK <= delta <= MAX_STOCK:
        raise ValidationFailed(
            N_("Enter a change of stock other than zero, of at most {limit}."),
            limit=MAX_STOCK,
            fields={"delta": N_("Out of range.")},
        )
    owned = policies.own_product_ids(actor, CATALOG_MANAGE)
    new_stock = await stock.move(session, sku_id, delta, owned)
    if new_stock is None:
        current = await session.scalar(
            policies.own_skus(actor, CATALOG_MANAGE)
            .with_only_columns(Sku.stock)
            .where(Sku.id == sku_id)
        )
        if current is None:
            raise NotFound(N_("No such SKU in your catalogue."))
        if delta < 0:
            raise Conflict(
                N_("Not enough stock: {stock} left, cannot take away {amount}."),
                stock=current,
                amount=-delta,
                code="insufficient_stock",
                fields={"delta": N_("More than the stock.")},
            )
        raise ValidationFailed(
            N_("Stock can be at most {limit}."),
            limit=MAX_STOCK,
            fields={"delta": N_("Out of range.")},
        )
    stock.record(session, actor, sku_id, delta, new_stock)
    return new_stock


async def set_stock(session: AsyncSession, actor: Actor, sku_id: int, counted: int) -> int:
    """Set the stock to a counted number (after a stocktake), in one UPDATE."""
    if not 0 <= counted <= MAX_STOCK:
        raise ValidationFailed(
            N_("Stock can be at most {limit}."),
            limit=MAX_STOCK,
            fields={"stock": N_("Out of range.")},
        )
    owned = policies.own_product_ids(actor, CATALOG_MANAGE)
    changed = await session.scalar(
        update(Sku)
        .where(Sku.id == sku_id, Sku.product_id.in_(owned))
        .values(stock=counted)
        .returning(Sku.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    audit.record(
        session, actor, "catalog.stock_set", target_type="sku", target_id=sku_id, stock=counted
    )
    return counted

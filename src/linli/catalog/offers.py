"""The catalogue's read face for selling domains (group buying, live selling): a merchant's
listed SKUs as plain read models, the product of a SKU as a correlated subquery and every SKU's
category as a subquery for reports, and why goods are excluded from the no-reason return under
the rule's values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Subquery, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from linli.catalog.models import Product, Sku
from linli.categories.tree import category_tree


def return_exclusion(
    values: Mapping[str, Any], storage_class: str, category_codes: Sequence[str]
) -> str | None:
    """Why goods are excluded from the no-reason return under the values of rule
    `consumer.no_reason_return` (their storage class, else a category of theirs), or None."""
    if storage_class in values.get("excluded_storage_classes", []):
        return f"storage:{storage_class}"
    excluded = set(values.get("excluded_categories", []))
    for code in category_codes:
        if code in excluded:
            return f"category:{code}"
    return None


@dataclass(frozen=True)
class ListedSku:
    sku_id: int
    code: str
    price_fen: int
    product_id: int
    product_name: str
    unit: str
    storage_class: str
    category_codes: tuple[str, ...]  # the product's category, its parent, ... up to the root

    @property
    def label(self) -> str:
        return f"{self.product_name} · {self.code}"


async def listed_skus(
    session: AsyncSession,
    organisation_id: int,
    sku_ids: Sequence[int] | None = None,
    *,
    limit: int | None = None,
) -> dict[int, ListedSku]:
    """SKUs of the organisation's own listed products (all, or those of `sku_ids`), by id, in
    product-name order."""
    query = (
        select(Sku, Product)
        .join(Product, Product.id == Sku.product_id)
        .where(Product.organisation_id == organisation_id, Product.status == "listed")
        .order_by(Product.name, Sku.id)
    )
    if sku_ids is not None:
        query = query.where(Sku.id.in_(sku_ids))
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    if not rows:
        return {}
    tree = await category_tree(session)
    return {
        sku.id: ListedSku(
            sku_id=sku.id,
            code=sku.code,
            price_fen=sku.price_fen,
            product_id=product.id,
            product_name=product.name,
            unit=product.unit,
            storage_class=product.storage_class,
            category_codes=tuple(c.code for c in tree.lineage(tree.by_id[product.category_id])),
        )
        for sku, product in rows
    }


def product_of_sku(sku_id: ColumnElement[Any] | QueryableAttribute[Any]) -> ScalarSelect[Any]:
    """The product id of the SKU `sku_id` names (a correlated subquery)."""
    return select(Sku.product_id).where(Sku.id == sku_id).scalar_subquery()


def sku_categories() -> Subquery:
    """Every SKU's category (`sku_id`, `category_id`), to join a report's lines to."""
    return (
        select(Sku.id.label("sku_id"), Product.category_id.label("category_id"))
        .join(Product, Product.id == Sku.product_id)
        .subquery("sku_categories")
    )


@dataclass(frozen=True)
class SkuFacts:
    """What trace shows and checks about a SKU (any status: a batch outlives a listing)."""

    sku_id: int
    code: str
    product_name: str
    storage_class: str
    gtin: str | None
    organisation_id: int


async def sku_facts(
    session: AsyncSession, sku_id: int, *, organisation_id: int | None = None
) -> SkuFacts | None:
    """The SKU's facts, or None when there is no such SKU (of `organisation_id`, if given)."""
    query = (
        select(Sku.code, Product.name, Product.storage_class, Product.gtin, Product.organisation_id)
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.id == sku_id)
    )
    if organisation_id is not None:
        query = query.where(Product.organisation_id == organisation_id)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    code, name, storage_class, gtin, owner = row
    return SkuFacts(sku_id, code, name, storage_class, gtin, owner)

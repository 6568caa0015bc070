"""Reading the catalogue: product views (category, merchant, SKUs, images, badges), public
search with its filters, the merchant's own products.

Views are built in a fixed number of queries whatever the number of products (`_views`);
queries are scoped to the actor's organisation or to what is on sale (policies.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from linli import clock
from linli.accounts.models import Organisation
from linli.authz import CATALOG_READ, Actor
from linli.catalog import policies, search
from linli.catalog.models import Product, ProductImage, Sku
from linli.catalog.products import access_product
from linli.catalog.schemas import MAX_PRICE_FEN
from linli.categories.tree import CategoryNode, CategoryTree, category_tree
from linli.db import escape_like
from linli.errors import NotFound, ValidationFailed
from linli.i18n import N_
from linli.merchants.queries import export_certified_organisation_ids


@dataclass(frozen=True)
class ProductView:
    """A product with what is shown with it: category, merchant, SKUs, images, badges."""

    product: Product
    category: CategoryNode
    merchant_name: str
    skus: list[Sku]
    images: list[ProductImage]
    badges: list[str]

    @property
    def price_min_fen(self) -> int | None:
        return min((s.price_fen for s in self.skus), default=None)

    @property
    def price_max_fen(self) -> int | None:
        return max((s.price_fen for s in self.skus), default=None)

    @property
    def stock(self) -> int:
        return sum(s.stock for s in self.skus)

    @property
    def thumbnail_file_id(self) -> int | None:
        return self.images[0].thumbnail_file_id if self.images else None


async def _views(
    session: AsyncSession, products: Sequence[Product], tree: CategoryTree
) -> list[ProductView]:
    """Views of `products`, in their order, with four queries whatever their number."""
    if not products:
        return []
    ids = [p.id for p in products]
    organisation_ids = {p.organisation_id for p in products}
    skus: dict[int, list[Sku]] = {i: [] for i in ids}
    for sku in await session.scalars(
        select(Sku)
        .where(Sku.product_id.in_(ids))
        .order_by(Sku.id)
        .execution_options(populate_existing=True)  # stock changes by UPDATE, not the ORM
    ):
        skus[sku.product_id].append(sku)
    images: dict[int, list[ProductImage]] = {i: [] for i in ids}
    for image in await session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id.in_(ids))
        .order_by(ProductImage.position, ProductImage.id)
    ):
        images[image.product_id].append(image)
    names: dict[int, str] = {
        row.id: row.name
        for row in await session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(organisation_ids))
        )
    }
    certified = set(
        await session.scalars(
            select(Organisation.id).where(
                Organisation.id.in_(organisation_ids),
                Organisation.id.in_(export_certified_organisation_ids(clock.now())),
            )
        )
    )
    return [
        ProductView(
            product=p,
            category=tree.by_id[p.category_id],
            merchant_name=names.get(p.organisation_id, ""),
            skus=skus[p.id],
            images=images[p.id],
            badges=["export_quality"] if p.organisation_id in certified else [],
        )
        for p in products
    ]


@dataclass(frozen=True)
class SearchFilters:
    q: str = ""
    category: str | None = None
    consumption_type: str | None = None
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    badge: str | None = None
    organisation_id: int | None = None
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class ProductPage:
    items: list[ProductView]
    total: int
    limit: int
    offset: int


def _filter_conditions(
    session: AsyncSession, tree: CategoryTree, filters: SearchFilters
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    matching = search.matching_product_ids(filters.q, search.dialect_of(session))
    if matching is not None:
        conditions.append(Product.id.in_(matching))
    if filters.category:
        category = tree.get(filters.category)
        conditions.append(Product.category_id.in_(tree.with_descendants(category)))
    if filters.consumption_type:
        of_type = [c.id for c in tree.rows if c.consumption_type == filters.consumption_type]
        conditions.append(Product.category_id.in_(of_type))
    low, high = filters.min_price_fen, filters.max_price_fen
    for name, value in (("min_price_fen", low), ("max_price_fen", high)):
        if value is not None and not 0 <= value <= MAX_PRICE_FEN:
            raise ValidationFailed(
                N_("Enter a price between ¥0.01 and ¥10,000,000."),
                fields={name: N_("Out of range.")},
            )
    if low is not None and high is not None and low > high:
        raise ValidationFailed(
            N_("The lowest price is above the highest."),
            fields={"max_price_fen": N_("Enter a price at least the lowest price.")},
        )
    if low is not None or high is not None:
        priced = select(Sku.product_id)
        if low is not None:
            priced = priced.where(Sku.price_fen >= low)
        if high is not None:
            priced = priced.where(Sku.price_fen <= high)
        conditions.append(Product.id.in_(priced))
    if filters.badge == "export_quality":
        conditions.append(
            Product.organisation_id.in_(export_certified_organisation_ids(clock.now()))
        )
    if filters.organisation_id is not None:
        conditions.append(Product.organisation_id == filters.organisation_id)
    return conditions


# Lower layers ask, higher layers provide: credit (above the catalogue) ranks a product's
# merchant by its public grade, as an SQL expression on the organisation id (smaller first);
# without a provider every merchant ranks alike.
MerchantRank = Callable[
    [AsyncSession], Awaitable[Callable[[InstrumentedAttribute[int]], ColumnElement[int]]]
]
_merchant_rank: MerchantRank | None = None


def provide_merchant_rank(rank: MerchantRank) -> None:
    global _merchant_rank
    _merchant_rank = rank


async def _relevance(session: AsyncSession, query: str) -> list[ColumnElement[Any]]:
    """Products whose own name holds more of the words come first, then those of merchants
    with a better public credit grade, then the newest."""
    ranked: list[ColumnElement[Any]] = []
    if _merchant_rank is not None:
        ranked.append((await _merchant_rank(session))(Product.organisation_id))
    words = search.terms(query)
    if not words:
        return [*ranked, Product.id.desc()]
    in_name = sum(
        (case((Product.name.ilike(f"%{escape_like(w)}%", escape="\\"), 1), else_=0) for w in words),
        start=literal(0),
    )
    return [in_name.desc(), *ranked, Product.id.desc()]


async def _page(
    session: AsyncSession,
    base: Select[Product],
    conditions: list[ColumnElement[bool]],
    tree: CategoryTree,
    limit: int,
    offset: int,
    order: Sequence[ColumnElement[Any]] = (),
) -> ProductPage:
    query = base.where(*conditions)
    total = await session.scalar(
        select(func.count()).select_from(query.with_only_columns(Product.id).subquery())
    )
    products = (
        await session.scalars(
            query.order_by(*(order or [Product.id.desc()])).limit(limit).offset(offset)
        )
    ).all()
    return ProductPage(await _views(session, products, tree), total or 0, limit, offset)


async def search_products(session: AsyncSession, filters: SearchFilters) -> ProductPage:
    """Public search: listed products of merchants that may sell, with the filters applied."""
    tree = await category_tree(session)
    conditions = _filter_conditions(session, tree, filters)
    return await _page(
        session,
        policies.public_products(),
        conditions,
        tree,
        filters.limit,
        filters.offset,
        order=await _relevance(session, filters.q),
    )


async def public_product(session: AsyncSession, product_id: int) -> ProductView:
    product = await session.scalar(policies.public_products().where(Product.id == product_id))
    if product is None:
        raise NotFound(N_("No such product, or it is not on sale."))
    (view,) = await _views(session, [product], await category_tree(session))
    return view


async def my_products(
    session: AsyncSession,
    actor: Actor,
    *,
    q: str = "",
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> ProductPage:
    """The products of the organisation the actor acts for, drafts included."""
    base = policies.own_products(actor)
    tree = await category_tree(session)
    conditions = _filter_conditions(session, tree, SearchFilters(q=q))
    if status:
        conditions.append(Product.status == status)
    return await _page(session, base, conditions, tree, limit, offset)


async def my_product(session: AsyncSession, actor: Actor, product_id: int) -> ProductView:
    return await view_of(
        session, await access_product(session, actor, product_id, permission=CATALOG_READ)
    )


async def view_of(session: AsyncSession, product: Product) -> ProductView:
    """The view of a product the caller already holds (loaded through a scoped query)."""
    (view,) = await _views(session, [product], await category_tree(session))
    return view

"""The catalogue: products and SKUs, prices with their history, stock, images, listing, search.

Every function takes `(session, actor, ...)`, scopes its queries to the actor's organisation
(policies.py), flushes and never commits. Every price a SKU gets is written to
`price_changes` by `_record_price`, the only place that writes it; stock only changes through
conditional UPDATEs, never read-then-write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import CATALOG_MANAGE, CATALOG_READ, Actor, Permission
from linli.catalog import policies, search, stock
from linli.catalog.gtin import gtin_problem
from linli.catalog.models import PriceChange, Product, ProductImage, ProductStatus, Sku
from linli.catalog.schemas import (
    MAX_PRICE_FEN,
    MAX_STOCK,
    ProductCreateIn,
    ProductUpdateIn,
    SkuIn,
)
from linli.categories import negative_list
from linli.categories.tree import CategoryNode, CategoryTree, category_name, category_tree
from linli.db import escape_like
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import PriceChanged
from linli.files import service as files
from linli.files.service import FileStore
from linli.i18n import N_
from linli.merchants.queries import export_certified_organisation_ids, selling_status

MAX_IMAGES = 10
THUMBNAIL_PX = 320
PRICE_SOURCES = ("create", "edit", "api")


# --- categories ---------------------------------------------------------------------------


# --- reading products ---------------------------------------------------------------------


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


def _relevance(query: str) -> list[ColumnElement[Any]]:
    """Products whose own name holds more of the words come first, then the newest."""
    words = search.terms(query)
    if not words:
        return [Product.id.desc()]
    in_name = sum(
        (case((Product.name.ilike(f"%{escape_like(w)}%", escape="\\"), 1), else_=0) for w in words),
        start=literal(0),
    )
    return [in_name.desc(), Product.id.desc()]


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
        order=_relevance(filters.q),
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


async def price_history(session: AsyncSession, actor: Actor, sku_id: int) -> Sequence[PriceChange]:
    owned = policies.own_skus(actor).with_only_columns(Sku.id).where(Sku.id == sku_id)
    if await session.scalar(owned) is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    return (
        await session.scalars(
            select(PriceChange)
            .where(PriceChange.sku_id == sku_id)
            .order_by(PriceChange.changed_at, PriceChange.id)
        )
    ).all()


async def product_price_history(
    session: AsyncSession, actor: Actor, product_id: int
) -> dict[int, list[PriceChange]]:
    """The price history of each SKU of one of the actor's products, newest first."""
    owned = policies.own_skus(actor).with_only_columns(Sku.id).where(Sku.product_id == product_id)
    history: dict[int, list[PriceChange]] = {}
    for row in await session.scalars(
        select(PriceChange)
        .where(PriceChange.sku_id.in_(owned))
        .order_by(PriceChange.changed_at.desc(), PriceChange.id.desc())
    ):
        history.setdefault(row.sku_id, []).append(row)
    return history


async def access_product(
    session: AsyncSession,
    actor: Actor,
    product_id: int,
    *,
    permission: Permission = CATALOG_MANAGE,
    lock: bool = False,
) -> Product:
    query = policies.own_products(actor, permission).where(Product.id == product_id)
    if lock:
        query = query.with_for_update()
    product = await session.scalar(query.execution_options(populate_existing=True))
    if product is None:
        raise NotFound(N_("No such product in your catalogue."))
    return product


async def access_sku(session: AsyncSession, actor: Actor, sku_id: int, *, lock: bool) -> Sku:
    query = policies.own_skus(actor, CATALOG_MANAGE).where(Sku.id == sku_id)
    if lock:
        query = query.with_for_update()
    sku = await session.scalar(query.execution_options(populate_existing=True))
    if sku is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    return sku


# --- rules --------------------------------------------------------------------------------


def _refuse_prohibited(category: CategoryNode) -> ValidationFailed:
    return ValidationFailed(
        N_("{category} may not be sold on this platform (negative list for market access)."),
        category=category_name(category),
        code="prohibited_category",
        fields={"category": N_("This category is prohibited.")},
    )


def _check_category(
    tree: CategoryTree, category: CategoryNode, market: negative_list.NegativeList
) -> None:
    """Products go in the most specific category, and never in a prohibited one."""
    if market.prohibits(category):
        raise _refuse_prohibited(category)
    if tree.children(category):
        raise ValidationFailed(
            N_("Choose a more specific category than {category}."),
            category=category_name(category),
            code="category_too_broad",
            fields={"category": N_("Choose a category without subcategories.")},
        )


async def _listing_problem(
    session: AsyncSession, organisation_id: int, category: CategoryNode, tree: CategoryTree
) -> tuple[negative_list.NegativeList, ValidationFailed | None]:
    """The list applied, and why the organisation may not list in `category` (None: it may)."""
    rule = await negative_list.for_organisation(session, organisation_id)
    status = await selling_status(session, organisation_id)
    if status.paused:
        return rule, ValidationFailed(
            N_("Your organisation's listings are paused, so nothing can be listed now."),
            code="listings_paused",
        )
    if not status.verified:
        return rule, ValidationFailed(
            N_("Your organisation is not a verified merchant yet, so it cannot list products."),
            code="not_verified",
        )
    lineage = tree.lineage(category)
    if rule.prohibits(category):
        return rule, _refuse_prohibited(category)
    # A scope entry covers its own category and every category below it.
    if rule.licensing_codes(category) and not (
        {c.code for c in lineage} & set(status.business_scope)
    ):
        return rule, ValidationFailed(
            N_(
                "{category} needs a licence: it must be in your business scope before "
                "you can list in it."
            ),
            category=category_name(category),
            code="outside_business_scope",
            fields={"category": N_("Outside your business scope.")},
        )
    return rule, None


# --- writing ------------------------------------------------------------------------------


def _clean_gtin(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip()
    problem = gtin_problem(code)
    if problem is not None:
        raise ValidationFailed(
            N_("Check the barcode (GTIN)."), code="invalid_gtin", fields={"gtin": problem}
        )
    return code


def _check_price(price_fen: int, field_name: str = "price_fen") -> None:
    """The schemas bound prices already; services called from elsewhere get the same rule."""
    if not 1 <= price_fen <= MAX_PRICE_FEN:
        raise ValidationFailed(
            N_("Enter a price between ¥0.01 and ¥10,000,000."),
            fields={field_name: N_("Out of range.")},
        )


def _record_price(
    session: AsyncSession, actor: Actor, sku: Sku, old: int | None, source: str
) -> None:
    """The one place that writes price history: every price a SKU gets, by whom, how."""
    if source not in PRICE_SOURCES:
        raise ValueError(f"unknown price source {source!r}")
    session.add(
        PriceChange(
            sku_id=sku.id,
            old_price_fen=old,
            new_price_fen=sku.price_fen,
            changed_at=clock.now(),
            user_id=actor.user_id,
            organisation_id=actor.organisation_id,
            source=source,
        )
    )
    outbox.publish(
        session,
        PriceChanged(
            sku_id=sku.id,
            product_id=sku.product_id,
            organisation_id=actor.organisation_id,
            old_price_fen=old,
            new_price_fen=sku.price_fen,
            source=source,
            user_id=actor.user_id,
        ),
    )


async def _reindex(session: AsyncSession, product: Product, tree: CategoryTree) -> None:
    names = [
        name
        for c in tree.lineage(tree.by_id[product.category_id])
        for name in (c.name_zh, c.name_en)
    ]
    merchant = await session.scalar(
        select(Organisation.name).where(Organisation.id == product.organisation_id)
    )
    await search.index(session, product.id, search.body_of(product, names, merchant or ""))


async def _insert_sku(
    session: AsyncSession, actor: Actor, product: Product, data: SkuIn, *, field_prefix: str = ""
) -> Sku:
    _check_price(data.price_fen, f"{field_prefix}price_fen")
    taken = Conflict(
        N_("This product already has a SKU with the code {sku}."),
        sku=data.code,
        code="sku_code_taken",
        fields={f"{field_prefix}code": N_("Already used for this product.")},
    )
    existing = await session.scalar(
        select(Sku.id).where(Sku.product_id == product.id, Sku.code == data.code)
    )
    if existing is not None:
        raise taken
    sku = Sku(
        product_id=product.id,
        code=data.code,
        specs=dict(data.specs),
        price_fen=data.price_fen,
        stock=data.stock,
        created_at=clock.now(),
    )
    session.add(sku)
    try:
        await session.flush()
    except IntegrityError:  # the same code added at the same moment by someone else
        raise taken from None
    _record_price(session, actor, sku, None, "create")
    return sku


async def create_product(session: AsyncSession, actor: Actor, data: ProductCreateIn) -> Product:
    """A new draft product with its first SKU (whose price starts the price history)."""
    organisation_id = policies.acting_seller(actor, CATALOG_MANAGE)
    tree = await category_tree(session)
    category = tree.get(data.category)
    _check_category(tree, category, await negative_list.for_organisation(session, organisation_id))
    now = clock.now()
    product = Product(
        organisation_id=organisation_id,
        category_id=category.id,
        name=data.name,
        description=data.description,
        unit=data.unit,
        shelf_life_days=data.shelf_life_days,
        storage_class=data.storage_class,
        origin=data.origin,
        gtin=_clean_gtin(data.gtin),
        status=ProductStatus.DRAFT,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    await session.flush()
    sku = await _insert_sku(session, actor, product, data.sku, field_prefix="sku.")
    await _reindex(session, product, tree)
    audit.record(
        session,
        actor,
        "catalog.product_created",
        target_type="product",
        target_id=product.id,
        name=product.name,
        category=category.code,
        sku=sku.code,
        price_fen=sku.price_fen,
        stock=sku.stock,
    )
    return product


_REQUIRED_ON_UPDATE = {
    "category": N_("Choose a category."),
    "name": N_("Enter a name."),
    "unit": N_("Enter the unit."),
    "storage_class": N_("Choose how it is stored."),
}


async def update_product(
    session: AsyncSession, actor: Actor, product_id: int, data: ProductUpdateIn
) -> Product:
    """Change the fields sent. A listed product moved to another category is checked again."""
    product = await access_product(session, actor, product_id, lock=True)
    changes = data.changes()
    missing = {k: v for k, v in _REQUIRED_ON_UPDATE.items() if k in changes and changes[k] is None}
    if missing:
        raise ValidationFailed(N_("Some fields need attention."), fields=dict(missing))
    for text_field in ("description", "origin"):
        if text_field in changes and changes[text_field] is None:
            changes[text_field] = ""
    tree = await category_tree(session)
    applied: dict[str, Any] = {}
    decision: negative_list.NegativeList | None = None
    if "category" in changes:
        category = tree.get(changes.pop("category"))
        if category.id != product.category_id:
            rule = await negative_list.for_organisation(session, product.organisation_id)
            _check_category(tree, category, rule)
            if product.status == ProductStatus.LISTED:
                decision, problem = await _listing_problem(
                    session, product.organisation_id, category, tree
                )
                if problem is not None:
                    raise problem
            product.category_id = category.id
            applied["category"] = category.code
    if "gtin" in changes:
        changes["gtin"] = _clean_gtin(changes["gtin"])
    for name, value in changes.items():
        if getattr(product, name) != value:
            setattr(product, name, value)
            applied[name] = value if name != "description" else "…"
    if not applied:
        return product
    product.updated_at = clock.now()
    await session.flush()
    await _reindex(session, product, tree)
    rule_details: dict[str, Any] = (
        {"rule_id": decision.rule_id, "rule_version": decision.version} if decision else {}
    )
    audit.record(
        session,
        actor,
        "catalog.product_updated",
        target_type="product",
        target_id=product.id,
        changes=applied,
        **rule_details,
    )
    return product


async def add_sku(session: AsyncSession, actor: Actor, product_id: int, data: SkuIn) -> Sku:
    product = await access_product(session, actor, product_id, lock=True)
    sku = await _insert_sku(session, actor, product, data)
    product.updated_at = clock.now()
    audit.record(
        session,
        actor,
        "catalog.sku_added",
        target_type="sku",
        target_id=sku.id,
        product_id=product.id,
        code=sku.code,
        price_fen=sku.price_fen,
        stock=sku.stock,
    )
    return sku


async def change_price(
    session: AsyncSession, actor: Actor, sku_id: int, price_fen: int, *, source: str
) -> Sku:
    """Set a SKU's price; the change goes to the price history with who, when and how.

    `source` says which way it came: "edit" (the console), "api" (an integration).
    """
    if source not in ("edit", "api"):
        raise ValueError(f"price changes come from 'edit' or 'api', not {source!r}")
    _check_price(price_fen)
    sku = await access_sku(session, actor, sku_id, lock=True)  # two changes queue, none is lost
    old = sku.price_fen
    if old == price_fen:
        return sku
    sku.price_fen = price_fen
    _record_price(session, actor, sku, old, source)
    audit.record(
        session,
        actor,
        "catalog.price_changed",
        target_type="sku",
        target_id=sku.id,
        product_id=sku.product_id,
        old_price_fen=old,
        new_price_fen=price_fen,
        source=source,
    )
    await session.flush()
    return sku


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


async def set_stock(session: AsyncSession, actor: Actor, sku_id: int, stock: int) -> int:
    """Set the stock to a counted number (after a stocktake), in one UPDATE."""
    if not 0 <= stock <= MAX_STOCK:
        raise ValidationFailed(
            N_("Stock can be at most {limit}."),
            limit=MAX_STOCK,
            fields={"stock": N_("Out of range.")},
        )
    owned = policies.own_product_ids(actor, CATALOG_MANAGE)
    changed = await session.scalar(
        update(Sku)
        .where(Sku.id == sku_id, Sku.product_id.in_(owned))
        .values(stock=stock)
        .returning(Sku.id)
        .execution_options(synchronize_session=False)
    )
    if changed is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    audit.record(
        session, actor, "catalog.stock_set", target_type="sku", target_id=sku_id, stock=stock
    )
    return stock


async def list_product(session: AsyncSession, actor: Actor, product_id: int) -> Product:
    """Put a product on sale, if the merchant may sell and the negative list allows it.

    The decision, either way, is audited with the rule id and version it applied.
    """
    product = await access_product(session, actor, product_id, lock=True)
    if product.status == ProductStatus.LISTED:
        return product
    tree = await category_tree(session)
    category = tree.by_id[product.category_id]
    rule, problem = await _listing_problem(session, product.organisation_id, category, tree)
    details: dict[str, Any] = {
        "category": category.code,
        "rule_id": rule.rule_id,
        "rule_version": rule.version,
    }
    if problem is not None:
        audit.record(
            session,
            actor,
            "catalog.listing_refused",
            target_type="product",
            target_id=product.id,
            reason=problem.code,
            **details,
        )
        problem.keep_changes = True  # the refusal is on record; nothing else was changed
        raise problem
    product.status = ProductStatus.LISTED
    product.updated_at = clock.now()
    audit.record(
        session,
        actor,
        "catalog.product_listed",
        target_type="product",
        target_id=product.id,
        **details,
    )
    return product


async def delist_product(session: AsyncSession, actor: Actor, product_id: int) -> Product:
    """Take a product off sale: its merchant, or a platform reviewer."""
    product = await session.scalar(
        policies.delistable_products(actor)
        .where(Product.id == product_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if product is None:
        raise NotFound(N_("No such product in your catalogue."))
    if product.status != ProductStatus.LISTED:
        raise Conflict(N_("This product is not listed."), code="not_listed")
    product.status = ProductStatus.DELISTED
    product.updated_at = clock.now()
    audit.record(
        session,
        actor,
        "catalog.product_delisted",
        target_type="product",
        target_id=product.id,
        organisation_id=product.organisation_id,
    )
    return product


def _safe_filename(name: str) -> str:
    printable = "".join(c for c in name if c.isprintable())
    return PurePath(printable.replace("\\", "/")).name[:120] or "image"


async def add_image(
    session: AsyncSession,
    actor: Actor,
    file_store: FileStore,
    product_id: int,
    data: bytes,
    *,
    filename: str,
) -> ProductImage:
    """A JPEG, PNG or WebP picture (type from its content), with a 320 px thumbnail."""
    product = await access_product(session, actor, product_id, lock=True)
    count = await session.scalar(select(func.count()).where(ProductImage.product_id == product.id))
    if (count or 0) >= MAX_IMAGES:
        raise Conflict(N_("A product has at most {limit} images."), limit=MAX_IMAGES)
    files.check_upload(data, allowed=files.IMAGE_TYPES)
    try:
        small = await asyncio.to_thread(files.thumbnail, data, size=THUMBNAIL_PX)
    except Exception:  # Pillow fails in many ways on broken data; any of them means that
        raise ValidationFailed(
            N_("The image is damaged or not really an image."),
            code="unsupported_file",
            fields={"file": N_("Damaged image.")},
        ) from None
    name = _safe_filename(filename)
    original = await files.store(
        session,
        actor,
        file_store,
        data,
        filename=name,
        purpose="product_image",
        allowed=files.IMAGE_TYPES,
        public=True,
    )
    thumbnail = await files.store(
        session,
        actor,
        file_store,
        small,
        filename=f"{PurePath(name).stem}-{THUMBNAIL_PX}.jpg",
        purpose="product_thumbnail",
        allowed=frozenset({"image/jpeg"}),
        public=True,
    )
    position = await session.scalar(
        select(func.coalesce(func.max(ProductImage.position), -1) + 1).where(
            ProductImage.product_id == product.id
        )
    )
    image = ProductImage(
        product_id=product.id,
        file_id=original.id,
        thumbnail_file_id=thumbnail.id,
        position=position or 0,
    )
    session.add(image)
    product.updated_at = clock.now()
    await session.flush()
    audit.record(
        session,
        actor,
        "catalog.image_added",
        target_type="product",
        target_id=product.id,
        file_id=original.id,
        thumbnail_file_id=thumbnail.id,
    )
    return image

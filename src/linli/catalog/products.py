"""Products and their SKUs: creating, editing, listing and delisting, with the category and
market access rules (negative list, business scope, selling status) they are checked against.

Every function takes `(session, actor, ...)`, scopes its queries to the actor's organisation
(policies.py), flushes and never commits; every decision is audited, a listing decision with
the rule id and version it applied.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import CATALOG_MANAGE, Actor, Permission
from linli.catalog import policies, search
from linli.catalog.gtin import gtin_problem
from linli.catalog.models import Product, ProductStatus, Sku
from linli.catalog.prices import check_price, record_price
from linli.catalog.schemas import ProductCreateIn, ProductUpdateIn, SkuIn
from linli.categories import negative_list
from linli.categories.tree import CategoryNode, CategoryTree, category_name, category_tree
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import ProductListed
from linli.i18n import N_
from linli.merchants.queries import selling_status


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
    check_price(data.price_fen, f"{field_prefix}price_fen")
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
    record_price(session, actor, sku, None, "create")
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
    outbox.publish(
        session,
        ProductListed(
            product_id=product.id,
            organisation_id=product.organisation_id,
            category_code=category.code,
            user_id=actor.user_id,
        ),
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

"""Who may see and change which products. Rows are scoped in the query, never after loading."""

from __future__ import annotations

from sqlalchemy import Select, select

from linli.authz import (
    CATALOG_MANAGE,
    CATALOG_READ,
    PLATFORM_REVIEW,
    Actor,
    Permission,
    acting_organisation,
)
from linli.catalog.models import Product, ProductStatus, Sku
from linli.merchants.queries import selling_organisation_ids

SELLERS = ("merchant", "supplier")  # the organisation kinds that keep a catalogue


def acting_seller(actor: Actor, permission: Permission = CATALOG_READ) -> int:
    """The organisation whose catalogue the actor works on (owner or staff, acting for it)."""
    return acting_organisation(actor, permission, kinds=SELLERS)


def own_products(actor: Actor, permission: Permission = CATALOG_READ) -> Select[Product]:
    """The products of the organisation the actor acts for, drafts included."""
    organisation_id = acting_seller(actor, permission)
    return select(Product).where(Product.organisation_id == organisation_id)


def own_product_ids(actor: Actor, permission: Permission = CATALOG_READ) -> Select[int]:
    organisation_id = acting_seller(actor, permission)
    return select(Product.id).where(Product.organisation_id == organisation_id)


def own_skus(actor: Actor, permission: Permission = CATALOG_READ) -> Select[Sku]:
    return select(Sku).where(Sku.product_id.in_(own_product_ids(actor, permission)))


def delistable_products(actor: Actor) -> Select[Product]:
    """Merchants delist their own products; platform reviewers any (a hold, a complaint)."""
    if actor.has(PLATFORM_REVIEW):
        return select(Product)
    return own_products(actor, CATALOG_MANAGE)


def public_products() -> Select[Product]:
    """Listed products of organisations that are verified and not paused."""
    return select(Product).where(
        Product.status == ProductStatus.LISTED,
        Product.organisation_id.in_(selling_organisation_ids()),
    )

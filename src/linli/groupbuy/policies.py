"""Who may see and change which campaigns and orders. Rows are scoped in the query."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import GROUPBUY_READ, Actor, Permission
from linli.catalog.models import Product, ProductStatus, Sku
from linli.catalog.policies import acting_organisation
from linli.errors import Conflict, Forbidden
from linli.groupbuy.models import PUBLISHED, Campaign, Order
from linli.i18n import N_
from linli.merchants.queries import selling_status


def acting_merchant(actor: Actor, permission: Permission = GROUPBUY_READ) -> int:
    """The merchant organisation the actor (owner or staff) acts for."""
    organisation_id = acting_organisation(actor, permission)
    if actor.organisation_kind != "merchant":
        raise Forbidden(N_("Only merchants run group purchases."), code="not_a_merchant")
    return organisation_id


async def ensure_selling(session: AsyncSession, organisation_id: int) -> None:
    status = await selling_status(session, organisation_id)
    if not status.verified:
        raise Conflict(
            N_("Your organisation is not a verified merchant yet, so it cannot sell."),
            code="not_verified",
        )
    if status.paused:
        raise Conflict(
            N_("Your organisation's listings are paused, so nothing can be sold now."),
            code="listings_paused",
        )


def own_campaigns(organisation_id: int) -> Select[Campaign]:
    return select(Campaign).where(Campaign.organisation_id == organisation_id)


def own_listed_skus(organisation_id: int) -> Select[Sku, Product]:
    """SKUs of the organisation's own listed products (ownership checked in the query)."""
    return (
        select(Sku, Product)
        .join(Product, Product.id == Sku.product_id)
        .where(Product.organisation_id == organisation_id, Product.status == ProductStatus.LISTED)
    )


def own_listed_product_ids(organisation_id: int) -> Select[int]:
    return select(Product.id).where(
        Product.organisation_id == organisation_id, Product.status == ProductStatus.LISTED
    )


def public_campaigns() -> Select[Campaign]:
    return select(Campaign).where(Campaign.status == PUBLISHED)


def readable_orders(actor: Actor) -> Select[Order]:
    """A resident's own orders; for a merchant's owner/staff acting for it, its campaigns'."""
    user_id = actor.require_user_id()
    condition = Order.user_id == user_id
    if actor.organisation_id is not None and actor.has(GROUPBUY_READ):
        condition = condition | (Order.organisation_id == actor.organisation_id)
    return select(Order).where(condition)

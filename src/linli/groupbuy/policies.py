"""Who may see and change which campaigns, orders and pickup points. Rows are scoped in the
query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import GROUPBUY_READ, Actor, Permission, acting_organisation
from linli.community import points as pickup_points
from linli.errors import Conflict, NotFound
from linli.groupbuy.models import DRAFT, PUBLISHED, Campaign, Order
from linli.i18n import N_
from linli.merchants.queries import selling_status


def acting_merchant(actor: Actor, permission: Permission = GROUPBUY_READ) -> int:
    """The merchant organisation the actor (owner or staff) acts for."""
    return acting_organisation(actor, permission, kinds=("merchant",))


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


def public_campaigns() -> Select[Campaign]:
    return select(Campaign).where(Campaign.status == PUBLISHED)


def visible_campaigns(actor: Actor) -> Select[Campaign]:
    """Every campaign past its draft; drafts only to the merchant the actor reads for."""
    condition = Campaign.status != DRAFT
    if actor.organisation_id is not None and actor.has(GROUPBUY_READ):
        condition = condition | (Campaign.organisation_id == actor.organisation_id)
    return select(Campaign).where(condition)


def readable_orders(actor: Actor) -> Select[Order]:
    """A resident's own orders; for a merchant's owner/staff acting for it, its campaigns'."""
    user_id = actor.require_user_id()
    condition = Order.user_id == user_id
    if actor.organisation_id is not None and actor.has(GROUPBUY_READ):
        condition = condition | (Order.organisation_id == actor.organisation_id)
    return select(Order).where(condition)


async def access_led_point(
    session: AsyncSession, actor: Actor, point_id: int
) -> pickup_points.Point:
    """A pickup point the actor runs as an active leader; 404 for anyone else's."""
    point = await pickup_points.point_led_by(session, actor.require_user_id(), point_id)
    if point is None:
        raise NotFound(N_("No such pickup point of yours."), code="pickup_point_not_found")
    return point


async def led_points(session: AsyncSession, actor: Actor) -> Sequence[pickup_points.Point]:
    return await pickup_points.points_led_by(session, actor.require_user_id())

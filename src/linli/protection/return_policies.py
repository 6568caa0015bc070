"""Who sees and answers which return: the resident their own, the merchant those about itself,
a group leader those at the points they lead. Rows are scoped in the query."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor, Permission, acting_organisation
from linli.community import points
from linli.protection.return_models import ReturnRequest


def acting_merchant(actor: Actor, permission: Permission) -> int:
    return acting_organisation(actor, permission, kinds=("merchant",))


def own_returns(actor: Actor) -> Select[ReturnRequest]:
    """The resident's own requests."""
    return select(ReturnRequest).where(ReturnRequest.user_id == actor.require_user_id())


def merchant_returns(organisation_id: int) -> Select[ReturnRequest]:
    return select(ReturnRequest).where(ReturnRequest.organisation_id == organisation_id)


async def point_returns(session: AsyncSession, actor: Actor) -> Select[ReturnRequest]:
    """Returns to be brought to (or received at) the points the actor leads."""
    led = [p.id for p in await points.points_led_by(session, actor.require_user_id())]
    return select(ReturnRequest).where(ReturnRequest.pickup_point_id.in_(led))

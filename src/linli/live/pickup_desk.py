"""Live orders at the leader's one pickup desk (community.pickup_codes): the codes waiting at
a point (so group buying draws none of them), a live order found by its code at a point the
leader leads, and its hand-over through `fulfilment.hand_over` (audited there). Registered at
import; the app imports this module."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor
from linli.community import pickup_codes, points
from linli.i18n import N_
from linli.live import fulfilment
from linli.live.models import LiveGoods, LiveOrder
from linli.live.states import FulfilmentStatus


async def codes_at(session: AsyncSession, point_id: int) -> set[str]:
    """The pickup codes of live orders waiting at the point."""
    rows = await session.scalars(
        select(LiveOrder.pickup_code).where(
            LiveOrder.pickup_point_id == point_id,
            LiveOrder.fulfilment_status == FulfilmentStatus.AT_POINT,
            LiveOrder.pickup_code.is_not(None),
        )
    )
    return {code for code in rows if code is not None}


async def find(
    session: AsyncSession, actor: Actor, point_id: int, code: str
) -> pickup_codes.WaitingElsewhere | None:
    """The live order waiting under the code at a point the actor leads (None otherwise)."""
    if await points.point_led_by(session, actor.require_user_id(), point_id) is None:
        return None
    row = (
        await session.execute(
            select(LiveOrder.id, LiveOrder.quantity, LiveGoods.product_name)
            .join(LiveGoods, LiveGoods.id == LiveOrder.goods_id)
            .where(
                LiveOrder.pickup_point_id == point_id,
                LiveOrder.pickup_code == code,
                LiveOrder.fulfilment_status == FulfilmentStatus.AT_POINT,
            )
        )
    ).first()
    if row is None:
        return None
    order_id, quantity, name = row
    return pickup_codes.WaitingElsewhere(
        kind="live",
        label=N_("Live order"),
        order_id=int(order_id),
        product_name=str(name),
        quantity=int(quantity),
    )


async def hand_over(session: AsyncSession, actor: Actor, point_id: int, code: str) -> int:
    order = await fulfilment.hand_over(session, actor, point_id, code)
    return order.id


pickup_codes.provide_desk(
    pickup_codes.CodeDesk(kind="live", codes_at=codes_at, find=find, hand_over=hand_over)
)

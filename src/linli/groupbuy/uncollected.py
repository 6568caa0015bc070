"""What nobody collected: at a delivery's collect-by time, orders still waiting become
`uncollected` and the `groupbuy.uncollected` rule decides: refund what was not collected, or
only report it to the merchant.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.events import OrderUncollected
from linli.groupbuy import policies, refunds
from linli.groupbuy.models import PARTIAL, READY, UNCOLLECTED, Delivery, Order, OrderLine
from linli.payments.reasons import RefundReason
from linli.rules import service as rules

UNCOLLECTED_RULE = "groupbuy.uncollected"


async def handle_uncollected(session: AsyncSession, delivery_id: int) -> list[int]:
    """Due job at a delivery's collect-by time: orders still waiting become `uncollected` and
    the `groupbuy.uncollected` rule decides: refund what was not collected, or only report it
    to the merchant. Returns the order ids handled."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        return []
    rule = await rules.in_force(session, UNCOLLECTED_RULE)
    action = str(rule.values.get("action", "refund"))
    orders = (
        await session.scalars(
            update(Order)
            .where(
                Order.campaign_id == delivery.campaign_id,
                Order.pickup_point_id == delivery.pickup_point_id,
                Order.status.in_((READY, PARTIAL)),
            )
            .values(status=UNCOLLECTED)
            .returning(Order)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
    ).all()
    handled: list[int] = []
    for order in orders:
        refunded = 0
        if action == "refund":
            refunded = await _refund_uncollected(session, order)
        outbox.publish(
            session,
            OrderUncollected(
                order_id=order.id,
                user_id=order.user_id,
                pickup_point_id=order.pickup_point_id,
                merchant_organisation_id=order.organisation_id,
                action=action,
                refunded_fen=refunded,
            ),
        )
        audit.record(
            session,
            Actor.for_system(),
            "groupbuy.order_uncollected",
            target_type="groupbuy_order",
            target_id=order.id,
            handling=action,
            refunded_fen=refunded,
            rule=f"{rule.rule_id}@{rule.version}",
        )
        handled.append(order.id)
    return handled


async def _refund_uncollected(session: AsyncSession, order: Order) -> int:
    lines = (
        await session.scalars(
            select(OrderLine)
            .where(OrderLine.order_id == order.id, OrderLine.group_failed.is_(False))
            .execution_options(populate_existing=True)
        )
    ).all()
    total = 0
    for line in lines:
        amount = (line.quantity - line.picked_qty) * line.unit_price_fen
        amount = min(amount, line.amount_fen - line.refunded_fen)
        if amount > 0:
            line.refunded_fen += amount
            total += amount
    if total:
        order.refunded_fen += total
        await refunds.refund_order(
            session,
            order,
            total,
            RefundReason.UNCOLLECTED,
            "not collected",
            f"uncollected-{order.id}",
        )
    return total


async def uncollected_orders(session: AsyncSession, actor: Actor, point_id: int) -> Sequence[Order]:
    await policies.access_led_point(session, actor, point_id)
    return (
        await session.scalars(
            select(Order)
            .where(Order.pickup_point_id == point_id, Order.status == UNCOLLECTED)
            .order_by(Order.id.desc())
            .limit(200)
        )
    ).all()

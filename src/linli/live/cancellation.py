"""Cancelling a paid live order before it is shipped (docs/live.md "Delivery"): by its buyer,
or by its merchant (who cannot ship it) with a reason. One conditional UPDATE decides
(`paid` and `to_ship` -> `cancelled`, scoped in its WHERE to the actor), so a cancellation
racing the shipment, a second cancellation or the other party's: exactly one wins. The units
go back as an expired order's do (the room's stream stock while it holds it, else the SKU),
the buyer's per-viewer quota with them, and the whole paid amount is refunded once (an
idempotency key naming the order; refund reason `order_cancelled`). Audited; the buyer is told
when the merchant cancels (`LiveOrderCancelled`).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.audit import service as audit
from linli.authz import LIVE_MANAGE, Actor
from linli.errors import Conflict, NotFound
from linli.events import LiveOrderCancelled
from linli.i18n import N_
from linli.live.checkout import give_back_units, payment_of
from linli.live.models import LiveOrder
from linli.live.policies import acting_merchant
from linli.live.states import FulfilmentStatus, LiveOrderStatus
from linli.payments import service as payments
from linli.payments.reasons import RefundReason

By = Literal["buyer", "merchant"]


def _order_not_found() -> NotFound:
    return NotFound(N_("No such live order."), code="live_order_not_found")


async def cancel_by_buyer(session: AsyncSession, actor: Actor, order_id: int) -> LiveOrder:
    """The resident cancels their own paid order while it is still to be shipped."""
    user_id = actor.require_user_id()
    return await _cancel(session, actor, order_id, LiveOrder.user_id == user_id, "buyer", "")


async def cancel_by_merchant(
    session: AsyncSession, actor: Actor, order_id: int, reason: str
) -> LiveOrder:
    """The merchant cancels a paid order of its organisation it cannot ship, saying why."""
    organisation_id = acting_merchant(actor, LIVE_MANAGE)
    return await _cancel(
        session, actor, order_id, LiveOrder.organisation_id == organisation_id, "merchant", reason
    )


async def _cancel(
    session: AsyncSession, actor: Actor, order_id: int, scope: Any, by: By, reason: str
) -> LiveOrder:
    row = (
        await session.execute(
            update(LiveOrder)
            .where(
                LiveOrder.id == order_id,
                scope,
                LiveOrder.status == LiveOrderStatus.PAID,
                LiveOrder.fulfilment_status == FulfilmentStatus.TO_SHIP,
            )
            .values(
                status=LiveOrderStatus.CANCELLED,
                fulfilment_status=None,  # cancelled: no longer on its way
                refunded_fen=LiveOrder.total_fen,
            )
            .returning(LiveOrder.id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    order = await session.scalar(
        select(LiveOrder)
        .where(LiveOrder.id == order_id, scope)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise _order_not_found()
    if row is None:
        if order.status == LiveOrderStatus.CANCELLED:
            raise Conflict(N_("This order was cancelled already."), code="already_cancelled")
        if order.status != LiveOrderStatus.PAID:
            raise Conflict(
                N_("Only a paid order can be cancelled here; an unpaid one lapses by itself."),
                code="not_paid",
            )
        raise Conflict(
            N_("This order was shipped already: ask for a return once it arrives."),
            code="already_shipped",
        )
    await give_back_units(
        session,
        order_id=order.id,
        user_id=order.user_id,
        goods_id=order.goods_id,
        room_id=order.room_id,
        quantity=order.quantity,
        reason="live.order_cancelled",
    )
    refunded = await _refund(session, order)
    outbox.publish(
        session,
        LiveOrderCancelled(
            order_id=order.id,
            user_id=order.user_id,
            organisation_id=order.organisation_id,
            cancelled_by=by,
            reason=reason,
            refunded_fen=refunded,
        ),
    )
    audit.record(
        session,
        actor,
        "live.order_cancelled",
        target_type="live_order",
        target_id=order.id,
        cancelled_by=by,
        reason=reason or None,
        refunded_fen=refunded,
        organisation_id=order.organisation_id,
    )
    return order


async def _refund(session: AsyncSession, order: LiveOrder) -> int:
    """The whole paid amount back to the payer, once (the key names the order)."""
    intent = await payment_of(session, order)
    if intent is None:
        raise RuntimeError(f"live order {order.id} was paid but has no payment intent")
    amount = min(order.total_fen, await payments.refundable_fen(session, intent.id))
    if amount <= 0:
        return 0
    await payments.refund(
        session,
        Actor.for_system(),
        intent.id,
        amount,
        "order cancelled before shipment",
        reason_code=RefundReason.ORDER_CANCELLED,
        idempotency_key=f"live-cancel-{order.id}",
    )
    return amount

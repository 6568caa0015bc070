"""Live selling's face for consumer protection (as `groupbuy.lines` is group buying's): a
resident's received live order as a return needs it (`received_order`, optionally
row-locked), and the refund of returned units (`refund_returned_units`, reason `return`):
the units move by one conditional UPDATE (never more than bought), their settlement is
reversed in proportion (`settlement.reverse`), and the money goes back on the order's payment
intent through `payments.refund` with an idempotency key, so exactly once.

A live order is one line (one goods, a quantity); "received" is the order's receipt,
confirmed by the resident or automatic (docs/live.md "Delivery").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit import service as audit
from linli.authz import Actor
from linli.catalog import offers
from linli.live import settlement
from linli.live.checkout import payment_of
from linli.live.models import LiveGoods, LiveOrder
from linli.live.states import FulfilmentStatus
from linli.payments import service as payments
from linli.payments.reasons import RefundReason


@dataclass(frozen=True)
class ReturnableOrder:
    """A live order as a return needs it: who bought what from whom, how much of it was
    received and already returned, when it was received, and whether its goods are excluded
    from the no-reason return (their storage class or category under the rule's values)."""

    order_id: int
    user_id: int
    organisation_id: int
    product_name: str
    unit_price_fen: int
    received_qty: int  # the order's quantity once received, else 0
    returned_qty: int
    storage_class: str | None
    category_codes: tuple[str, ...]
    received_at: datetime | None
    room_id: int
    # For quality claims: where it was collected (None: shipped) and what was refunded.
    pickup_point_id: int | None = None
    refunded_fen: int = 0

    def exclusion(self, values: dict[str, object]) -> str | None:
        return offers.return_exclusion(values, self.storage_class or "", self.category_codes)


async def received_order(
    session: AsyncSession, order_id: int, *, user_id: int | None = None, lock: bool = False
) -> ReturnableOrder | None:
    """The live order (of `user_id`, when given), or None. `lock`: hold the order row until
    the transaction ends, so two requests about its units are answered one after the other."""
    query = (
        select(LiveOrder, LiveGoods.product_name, LiveGoods.sku_id, LiveGoods.category_codes)
        .join(LiveGoods, LiveGoods.id == LiveOrder.goods_id)
        .where(LiveOrder.id == order_id)
        .execution_options(populate_existing=True)
    )
    if user_id is not None:
        query = query.where(LiveOrder.user_id == user_id)
    if lock:
        query = query.with_for_update(of=LiveOrder)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    order, name, sku_id, categories = row
    facts = await offers.sku_facts(session, int(sku_id))
    received = order.fulfilment_status == FulfilmentStatus.RECEIVED
    return ReturnableOrder(
        order_id=order.id,
        user_id=order.user_id,
        organisation_id=order.organisation_id,
        product_name=str(name),
        unit_price_fen=order.unit_price_fen,
        received_qty=order.quantity if received else 0,
        returned_qty=order.returned_qty,
        storage_class=facts.storage_class if facts is not None else None,
        category_codes=tuple(categories or ()),
        received_at=order.received_at if received else None,
        room_id=order.room_id,
        pickup_point_id=order.pickup_point_id,
        refunded_fen=order.refunded_fen,
    )


@dataclass(frozen=True)
class UnitsRefunded:
    amount_fen: int
    commission_reversed_fen: int = 0  # the pickup point leader's commission reversed


async def refund_returned_units(
    session: AsyncSession, order_id: int, quantity: int, *, note: str, key_prefix: str
) -> UnitsRefunded | None:
    """Refund `quantity` received units of a live order brought back (reason `return`):
    money to the payer on the order's intent. None, and nothing done, when fewer units are
    left received and not yet refunded."""
    taken = (
        await session.execute(
            update(LiveOrder)
            .where(
                LiveOrder.id == order_id,
                LiveOrder.fulfilment_status == FulfilmentStatus.RECEIVED,
                LiveOrder.returned_qty + quantity <= LiveOrder.quantity,
                LiveOrder.refunded_fen + quantity * LiveOrder.unit_price_fen <= LiveOrder.total_fen,
            )
            .values(
                returned_qty=LiveOrder.returned_qty + quantity,
                refunded_fen=LiveOrder.refunded_fen + quantity * LiveOrder.unit_price_fen,
            )
            .returning(LiveOrder.returned_qty, LiveOrder.unit_price_fen)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if taken is None:
        return None
    returned_total, unit_price = int(taken[0]), int(taken[1])
    order = await session.get(LiveOrder, order_id, populate_existing=True)
    assert order is not None
    intent = await payment_of(session, order)
    if intent is None:
        raise RuntimeError(f"live order {order_id} was received but has no payment intent")
    amount = quantity * unit_price
    # The key names the return and the running total of units taken back: asked again, the
    # provider's refund is the same one.
    await payments.refund(
        session,
        Actor.for_system(),
        intent.id,
        amount,
        note,
        reason_code=RefundReason.RETURN,
        idempotency_key=f"{key_prefix}-live-{order_id}-{returned_total}",
    )
    # The units were settled at receipt: their share goes back from the merchant, the leader
    # and the platform into clearing, in proportion at the order's rates (the refund above
    # takes it from there: both in this transaction).
    reversed_fen = await settlement.reverse(
        session,
        order,
        amount,
        f"live-order-{order_id}-return-{returned_total}",
    )
    audit.record(
        session,
        Actor.for_system(),
        "live.order_units_refunded",
        target_type="live_order",
        target_id=order_id,
        quantity=quantity,
        amount_fen=amount,
        commission_reversed_fen=reversed_fen,
        reason="return",
    )
    return UnitsRefunded(amount, reversed_fen)


async def refund_claimed_amount(
    session: AsyncSession, order_id: int, amount_fen: int, *, note: str, key: str
) -> UnitsRefunded | None:
    """Refund `amount_fen` of a received live order without taking the goods back (a quality
    claim upheld, reason `quality_claim`): money to the payer on the order's intent, once by
    the idempotency `key` (the claim's). None, and nothing done, when the order is not
    received or less than `amount_fen` is left refundable. `returned_qty` is unchanged: the
    resident keeps the units (protection holds them against its claims). Asked again with
    the same key, the first refund is the answer and nothing moves again."""
    order = await session.get(LiveOrder, order_id, populate_existing=True)
    if order is None:
        return None
    intent = await payment_of(session, order)
    if intent is not None:
        for earlier in await payments.refunds_of(session, intent.id):
            if earlier.idempotency_key == key:
                return UnitsRefunded(int(earlier.amount_fen))
    taken = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.fulfilment_status == FulfilmentStatus.RECEIVED,
            LiveOrder.refunded_fen + amount_fen <= LiveOrder.total_fen,
        )
        .values(refunded_fen=LiveOrder.refunded_fen + amount_fen)
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    if taken is None:
        return None
    if intent is None:
        raise RuntimeError(f"live order {order_id} was received but has no payment intent")
    await payments.refund(
        session,
        Actor.for_system(),
        intent.id,
        amount_fen,
        note,
        reason_code=RefundReason.QUALITY_CLAIM,
        idempotency_key=key,
    )
    # As for returned units: the refunded amount's share of the settlement goes back from the
    # merchant, the leader and the platform into clearing first (same transaction).
    await session.refresh(order)
    reversed_fen = await settlement.reverse(session, order, amount_fen, f"live-order-{key}")
    audit.record(
        session,
        Actor.for_system(),
        "live.order_refunded_without_return",
        target_type="live_order",
        target_id=order_id,
        amount_fen=amount_fen,
        commission_reversed_fen=reversed_fen,
        reason="quality_claim",
    )
    return UnitsRefunded(amount_fen, reversed_fen)


async def received_orders_count(
    session: AsyncSession,
    since: datetime,
    *,
    user_id: int | None = None,
    point_ids: Sequence[int] | None = None,
) -> int:
    """Live orders received since `since`: of one resident, or collected at some pickup
    points (a community's) - with group buying's collected lines, the base of a claim rate."""
    query = select(func.count(LiveOrder.id)).where(
        LiveOrder.fulfilment_status == FulfilmentStatus.RECEIVED, LiveOrder.received_at >= since
    )
    if user_id is not None:
        query = query.where(LiveOrder.user_id == user_id)
    if point_ids is not None:
        query = query.where(LiveOrder.pickup_point_id.in_(point_ids))
    return int(await session.scalar(query) or 0)

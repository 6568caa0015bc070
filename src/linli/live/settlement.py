"""The settlement of received live orders (docs/live.md "Settlement").

A paid live order's money waits in the ledger's clearing account until the order is received:
confirmed by the resident, received automatically (`live.delivery`), or handed over at the
buyer's pickup point. In the transaction of that receipt (itself one conditional UPDATE from
`shipped` / `at_point`, so only one receipt wins) `settle_received` moves what was paid and not
refunded out of clearing through `ledger.settle`: the platform's fee (rule
`live.platform_fee`), the pickup point leader's commission (their point's `commission_bp`,
only for an order handed over at the point; for goods of the leader's own room the supply
agreement's rate) and the rest to the merchant's payable. The rates
are kept on the order, so a return afterwards reverses exactly what was booked, in proportion
(`reverse`, through `ledger.reverse_settlement`, as group buying reverses collected goods).

Exactly once: the order's `settled_at` is set by a conditional UPDATE (`settled_at IS NULL`),
and the ledger entry's reference names the order (`live-order-{id}`, unique).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import Actor
from linli.community import points
from linli.live.models import LiveCommission, LiveGoods, LiveOrder, Room
from linli.payments import ledger
from linli.rules import service as rules

FEE_RULE = "live.platform_fee"


@dataclass(frozen=True)
class Settled:
    amount_fen: int
    merchant_fen: int
    leader_fen: int
    platform_fen: int


async def _leader_rate(session: AsyncSession, order_id: int, leader_user_id: int) -> int:
    """The commission of the leader handing the order over: the supply agreement's rate
    (copied onto the goods) for goods of the leader's own room, else their point's rate."""
    agreed = (
        await session.execute(
            select(LiveGoods.commission_bp, Room.leader_user_id)
            .join(LiveOrder, LiveOrder.goods_id == LiveGoods.id)
            .join(Room, Room.id == LiveGoods.room_id)
            .where(LiveOrder.id == order_id, LiveGoods.agreement_id.is_not(None))
        )
    ).one_or_none()
    if agreed is not None and agreed[1] == leader_user_id and agreed[0] is not None:
        return int(agreed[0])
    return int(await points.commission_bp(session, leader_user_id) or 0)


async def settle_received(
    session: AsyncSession, order_id: int, *, leader_user_id: int | None = None
) -> Settled | None:
    """Book the settlement of a live order just received (called in the receipt's
    transaction). `leader_user_id`: the leader who handed it over at their point, who earns
    their commission rate on it. None, and nothing booked, when the order was settled already
    or nothing of it is left to settle."""
    fee = await rules.in_force(session, FEE_RULE)
    fee_bp = int(fee.values["bp"])
    commission_bp = 0
    if leader_user_id is not None:
        commission_bp = await _leader_rate(session, order_id, leader_user_id)
    now = clock.now()
    row = (
        await session.execute(
            update(LiveOrder)
            .where(LiveOrder.id == order_id, LiveOrder.settled_at.is_(None))
            .values(
                settled_at=now,
                settled_fen=LiveOrder.total_fen - LiveOrder.refunded_fen,
                platform_fee_bp=fee_bp,
                commission_bp=commission_bp,
                commission_leader_user_id=leader_user_id if commission_bp else None,
            )
            .returning(LiveOrder.settled_fen, LiveOrder.organisation_id, LiveOrder.pickup_point_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        return None
    amount, organisation_id, point_id = int(row[0]), int(row[1]), row[2]
    if amount <= 0:
        return None
    leader_fen = ledger.share(amount, commission_bp)
    platform_fen = ledger.share(amount, fee_bp)
    merchant_fen = amount - leader_fen - platform_fen
    await ledger.settle(
        session,
        f"live-order-{order_id}",
        amount_fen=amount,
        merchant_organisation_id=organisation_id,
        merchant_fen=merchant_fen,
        leader_user_id=leader_user_id if leader_fen else None,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
    )
    if leader_fen:
        assert leader_user_id is not None
        assert point_id is not None
        session.add(
            LiveCommission(
                leader_user_id=leader_user_id,
                pickup_point_id=int(point_id),
                order_id=order_id,
                kind="accrual",
                base_fen=amount,
                rate_bp=commission_bp,
                amount_fen=leader_fen,
                created_at=now,
            )
        )
    audit.record(
        session,
        Actor.for_system(),
        "live.order_settled",
        target_type="live_order",
        target_id=order_id,
        amount_fen=amount,
        merchant_fen=merchant_fen,
        leader_user_id=leader_user_id if leader_fen else None,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
        commission_bp=commission_bp,
        platform_fee_bp=fee_bp,
        rule_id=fee.rule_id,
        rule_version=fee.version,
    )
    return Settled(amount, merchant_fen, leader_fen, platform_fen)


async def reverse(session: AsyncSession, order: LiveOrder, amount_fen: int, key: str) -> int:
    """Undo the settlement of `amount_fen` of a settled order (units returned, or a quality
    claim's refund) at the rates it was settled at, in proportion: the shares go back into
    clearing, ready to be refunded. `order` is read after its `refunded_fen` took the amount.
    Each share reversed is the difference of the rounded-down shares of the running totals of
    what was refunded since the settlement, so all the refunds of an order together reverse
    exactly what its settlement booked (no fen left over by rounding). `key` names the ledger
    entry (once per key). Returns the leader's commission reversed."""
    if order.settled_at is None:
        # Received before settlements existed (migration 0051): its money never left
        # clearing, so there is nothing to reverse before the refund.
        return 0
    # What was refunded before the receipt was never settled (`settled_fen` leaves it out).
    after = order.refunded_fen - (order.total_fen - order.settled_fen)
    reversed_before = after - amount_fen
    leader_fen = ledger.share(after, order.commission_bp) - ledger.share(
        reversed_before, order.commission_bp
    )
    platform_fen = ledger.share(after, order.platform_fee_bp) - ledger.share(
        reversed_before, order.platform_fee_bp
    )
    leader = order.commission_leader_user_id
    await ledger.reverse_settlement(
        session,
        key,
        amount_fen=amount_fen,
        merchant_organisation_id=order.organisation_id,
        merchant_fen=amount_fen - leader_fen - platform_fen,
        leader_user_id=leader if leader_fen else None,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
    )
    if leader_fen:
        assert leader is not None
        assert order.pickup_point_id is not None
        session.add(
            LiveCommission(
                leader_user_id=leader,
                pickup_point_id=order.pickup_point_id,
                order_id=order.id,
                kind="reversal",
                base_fen=-amount_fen,
                rate_bp=order.commission_bp,
                amount_fen=-leader_fen,
                created_at=clock.now(),
            )
        )
    return leader_fen


# --- the leader's itemised commissions ------------------------------------------------------


@dataclass(frozen=True)
class CommissionItem:
    id: int
    order_id: int
    pickup_point_id: int
    product_name: str
    kind: str
    base_fen: int
    rate_bp: int
    amount_fen: int
    created_at: datetime


@dataclass(frozen=True)
class CommissionSummary:
    accrued_fen: int
    reversed_fen: int
    items: Sequence[CommissionItem]

    @property
    def net_fen(self) -> int:
        return self.accrued_fen - self.reversed_fen


async def my_commissions(
    session: AsyncSession, actor: Actor, *, limit: int = 100
) -> CommissionSummary:
    """The actor's own live commissions (accruals and reversals), newest first, with their
    totals over all time."""
    user_id = actor.require_user_id()
    rows = (
        await session.execute(
            select(LiveCommission, LiveGoods.product_name)
            .join(LiveOrder, LiveOrder.id == LiveCommission.order_id)
            .join(LiveGoods, LiveGoods.id == LiveOrder.goods_id)
            .where(LiveCommission.leader_user_id == user_id)
            .order_by(LiveCommission.id.desc())
            .limit(limit)
        )
    ).all()
    accrued = func.coalesce(
        func.sum(LiveCommission.amount_fen).filter(LiveCommission.amount_fen > 0), 0
    )
    reversed_ = func.coalesce(
        func.sum(LiveCommission.amount_fen).filter(LiveCommission.amount_fen < 0), 0
    )
    totals = (
        await session.execute(
            select(accrued, reversed_).where(LiveCommission.leader_user_id == user_id)
        )
    ).one()
    items = [
        CommissionItem(
            id=c.id,
            order_id=c.order_id,
            pickup_point_id=c.pickup_point_id,
            product_name=str(name),
            kind=c.kind,
            base_fen=c.base_fen,
            rate_bp=c.rate_bp,
            amount_fen=c.amount_fen,
            created_at=c.created_at,
        )
        for c, name in rows
    ]
    return CommissionSummary(int(totals[0]), -int(totals[1]), items)

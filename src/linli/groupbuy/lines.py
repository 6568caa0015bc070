"""Group buying's face for trace and protection: the order lines sold from given batches, the
pickup point of a line, what a recall does to a line (cancel the unpaid order, or refund the
line), a resident's own line with what they collected (reviews of verified purchases), and
a resident's own order as a complaint names it; a resident's collected line for a return and
the refund of returned units."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog import offers
from linli.groupbuy import checkout, orders, refunds
from linli.groupbuy.models import (
    CANCELLED,
    PENDING_PAYMENT,
    CampaignItem,
    Order,
    OrderLine,
    Pickup,
)
from linli.groupbuy.states import CancelReason
from linli.payments.reasons import RefundReason


@dataclass(frozen=True)
class HeldLine:
    """An order line (of an order not cancelled) sold from a batch."""

    line_id: int
    order_id: int
    user_id: int
    item_id: int
    batch_id: int
    quantity: int
    product_name: str


async def lines_holding(session: AsyncSession, batch_ids: Sequence[int]) -> list[HeldLine]:
    """Lines of orders not cancelled whose items are sold from `batch_ids`, by order, line."""
    rows = (
        await session.execute(
            select(OrderLine, Order, CampaignItem.batch_id, CampaignItem.product_name)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(CampaignItem.batch_id.in_(batch_ids), Order.status != CANCELLED)
            .order_by(Order.id, OrderLine.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return [
        HeldLine(
            line_id=line.id,
            order_id=order.id,
            user_id=order.user_id,
            item_id=line.item_id,
            batch_id=int(batch_id),
            quantity=line.quantity,
            product_name=str(name or ""),
        )
        for line, order, batch_id, name in rows
        if batch_id is not None
    ]


async def batched_lines_of_order(session: AsyncSession, order_id: int) -> list[tuple[int, int]]:
    """(line id, batch id) of the order's lines whose items name a batch."""
    rows = await session.execute(
        select(OrderLine.id, CampaignItem.batch_id)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .where(OrderLine.order_id == order_id, CampaignItem.batch_id.is_not(None))
    )
    return [(int(line_id), int(batch_id)) for line_id, batch_id in rows.all() if batch_id]


async def batched_lines_of_orders(
    session: AsyncSession, order_ids: list[int]
) -> list[tuple[int, int]]:
    """`batched_lines_of_order` for several orders in one statement, in line order."""
    if not order_ids:
        return []
    rows = await session.execute(
        select(OrderLine.id, CampaignItem.batch_id)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .where(OrderLine.order_id.in_(order_ids), CampaignItem.batch_id.is_not(None))
        .order_by(OrderLine.id)
    )
    return [(int(line_id), int(batch_id)) for line_id, batch_id in rows.all() if batch_id]


async def pickup_point_of_line(session: AsyncSession, line_id: int) -> int | None:
    point_id = await session.scalar(
        select(Order.pickup_point_id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(OrderLine.id == line_id)
    )
    return int(point_id) if point_id is not None else None


@dataclass(frozen=True)
class RecallOutcome:
    cancelled: bool = False  # the order was unpaid and is cancelled
    refunded_fen: int = 0


async def recall_line(
    session: AsyncSession, line_id: int, *, refund: bool, note: str, key: str
) -> RecallOutcome:
    """A recalled line: an unpaid order is cancelled (reason `recalled`); otherwise, when the
    recall refunds, everything still paid for the line is given back with the reason `recall`
    (`note`, `key`: the refund's note and idempotency key)."""
    line = await session.get(OrderLine, line_id)
    order = await session.get(Order, line.order_id) if line is not None else None
    if line is None or order is None:
        return RecallOutcome()
    if order.status == PENDING_PAYMENT:
        intent = await checkout.payment_of(session, order)
        cancelled = await orders.expire_order(
            session, order.id, intent.id if intent else None, reason=CancelReason.RECALLED
        )
        return RecallOutcome(cancelled=cancelled)
    if refund:
        amount = await refunds.refund_line_in_full(
            session, order, line, RefundReason.RECALL, note, key
        )
        return RecallOutcome(refunded_fen=amount)
    return RecallOutcome()


@dataclass(frozen=True)
class CollectedLine:
    """A line of a resident's order as reviews need it: whose it is, what was sold, by whom,
    and how much of it the resident collected at the pickup point."""

    line_id: int
    order_id: int
    user_id: int
    organisation_id: int
    sku_id: int
    product_id: int
    product_name: str
    quantity: int
    picked_qty: int

    @property
    def collected(self) -> bool:
        return self.picked_qty > 0


async def residents_line(session: AsyncSession, user_id: int, line_id: int) -> CollectedLine | None:
    """The line `line_id` if it belongs to an order of `user_id` (None otherwise, so another
    resident's line is as missing as one that does not exist), with what was collected."""
    row = (
        await session.execute(
            select(
                OrderLine,
                Order.user_id,
                Order.organisation_id,
                CampaignItem,
                offers.product_of_sku(CampaignItem.sku_id),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .where(OrderLine.id == line_id, Order.user_id == user_id)
        )
    ).first()
    if row is None:
        return None
    line, owner_id, organisation_id, item, product_id = row
    return CollectedLine(
        line_id=line.id,
        order_id=line.order_id,
        user_id=int(owner_id),
        organisation_id=int(organisation_id),
        sku_id=item.sku_id,
        product_id=int(product_id),
        product_name=item.product_name,
        quantity=line.quantity,
        picked_qty=line.picked_qty,
    )


# --- for consumer protection (complaints) ---------------------------------------------------


class ReviewedLines(Protocol):
    async def __call__(
        self, session: AsyncSession, user_id: int, line_ids: Collection[int]
    ) -> set[int]:
        """Those of `line_ids` the resident has reviewed."""


async def _not_provided(session: AsyncSession, user_id: int, line_ids: Collection[int]) -> set[int]:
    raise RuntimeError(
        "No reviewed-lines provider: import linli.protection.reviews "
        "(app.load_domain_handlers does)."
    )


# Reviews are protection's, and protection sits above group buying: the order page asks here
# which of its lines are reviewed, and protection provides the answer (as trace provides
# `batches.source`).
reviewed_lines: ReviewedLines = _not_provided


def provide_reviewed_lines(provider: ReviewedLines) -> None:
    global reviewed_lines
    reviewed_lines = provider


@dataclass(frozen=True)
class BoughtLine:
    line_id: int
    product_name: str
    quantity: int


@dataclass(frozen=True)
class ResidentOrder:
    """One of a resident's own orders, as a complaint names it: its merchant, its pickup
    point and what was bought."""

    order_id: int
    user_id: int
    organisation_id: int
    pickup_point_id: int
    status: str
    lines: tuple[BoughtLine, ...]


async def order_of_resident(
    session: AsyncSession, user_id: int, order_id: int
) -> ResidentOrder | None:
    """The order if it is the resident's own, else None."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user_id)
    )
    if order is None:
        return None
    rows = await session.execute(
        select(OrderLine.id, CampaignItem.product_name, OrderLine.quantity)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .where(OrderLine.order_id == order.id)
        .order_by(OrderLine.id)
    )
    return ResidentOrder(
        order_id=order.id,
        user_id=order.user_id,
        organisation_id=order.organisation_id,
        pickup_point_id=order.pickup_point_id,
        status=order.status,
        lines=tuple(
            BoughtLine(line_id=int(i), product_name=str(n), quantity=int(q))
            for i, n, q in rows.all()
        ),
    )


@dataclass(frozen=True)
class ReturnableLine:
    """An order line as a return needs it: who bought it from whom, where it was collected,
    how much of it, and whether it is excluded from the no-reason return (by the campaign
    item's goods under the rule, and as the resident confirmed at checkout)."""

    line_id: int
    order_id: int
    user_id: int
    organisation_id: int
    pickup_point_id: int
    product_name: str
    unit_price_fen: int
    picked_qty: int
    returned_qty: int  # collected units already taken back and refunded
    return_exclusion: str | None  # e.g. "storage:chilled", "category:fresh_food"
    excluded_at_checkout: bool  # the resident confirmed the exclusion when ordering
    return_rule_id: str
    return_rule_version: int
    received_at: datetime | None  # the order's last hand-over (None: nothing collected)
    claimed_qty: int = 0  # collected units held by quality claims (kept, never taken back)
    amount_fen: int = 0  # paid for the line
    refunded_fen: int = 0  # refunded on the line, for any reason

    @property
    def refundable_fen(self) -> int:
        """What is left to refund on the line."""
        return self.amount_fen - self.refunded_fen


async def collected_line(
    session: AsyncSession, line_id: int, *, user_id: int | None = None, lock: bool = False
) -> ReturnableLine | None:
    """The line (of `user_id`'s orders, when given), or None. `lock`: hold the line row until
    the transaction ends, so two requests about its units are answered one after the other.
    Received at: the order's last hand-over (a line collected in two hand-overs counts from the
    later one, in the resident's favour)."""
    query = (
        select(OrderLine, Order, CampaignItem.product_name, CampaignItem.return_exclusion)
        .join(Order, Order.id == OrderLine.order_id)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .where(OrderLine.id == line_id)
        .execution_options(populate_existing=True)
    )
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if lock:
        query = query.with_for_update(of=OrderLine)
    row = (await session.execute(query)).first()
    if row is None:
        return None
    line, order, name, exclusion = row
    received_at = await session.scalar(
        select(func.max(Pickup.created_at)).where(Pickup.order_id == order.id)
    )
    return ReturnableLine(
        line_id=line.id,
        order_id=order.id,
        user_id=order.user_id,
        organisation_id=order.organisation_id,
        pickup_point_id=order.pickup_point_id,
        product_name=str(name or ""),
        unit_price_fen=line.unit_price_fen,
        picked_qty=line.picked_qty,
        returned_qty=line.returned_qty,
        return_exclusion=exclusion,
        excluded_at_checkout=line.no_reason_return_excluded,
        return_rule_id=order.return_rule_id,
        return_rule_version=order.return_rule_version,
        received_at=received_at,
        claimed_qty=line.claimed_qty,
        amount_fen=line.amount_fen,
        refunded_fen=line.refunded_fen,
    )


@dataclass(frozen=True)
class UnitsRefunded:
    amount_fen: int
    commission_reversed_fen: int


async def refund_returned_units(
    session: AsyncSession, line_id: int, quantity: int, *, note: str, key_prefix: str
) -> UnitsRefunded | None:
    """Refund `quantity` collected units of a line brought back (reason `return`): settlement
    and commission reversed, money to the payer, `OrderRefunded` published. None, and nothing
    done, when fewer units are left collected and not yet refunded."""
    row = (
        await session.execute(
            select(Order, OrderLine)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.id == line_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        return None
    order, line = row
    event = await refunds.refund_units(
        session, order, line, quantity, RefundReason.RETURN, note, key_prefix=key_prefix
    )
    if event is None:
        return None
    return UnitsRefunded(event.amount_fen, event.commission_reversed_fen)


async def _locked_line(session: AsyncSession, line_id: int) -> tuple[Order, OrderLine] | None:
    row = (
        await session.execute(
            select(Order, OrderLine)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.id == line_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def hold_claimed_units(session: AsyncSession, line_id: int, quantity: int) -> bool:
    """Hold collected units of a line for a quality claim (see `refunds.hold_claimed_units`)."""
    return await refunds.hold_claimed_units(session, line_id, quantity)


async def release_claimed_units(session: AsyncSession, line_id: int, quantity: int) -> None:
    await refunds.release_claimed_units(session, line_id, quantity)


async def refund_claimed_amount(
    session: AsyncSession, line_id: int, amount_fen: int, *, note: str, key: str
) -> UnitsRefunded | None:
    """Refund `amount_fen` of a line's collected goods without taking them back (reason
    `quality_claim`): settlement and commission reversed in proportion, money to the payer,
    `OrderRefunded` published. None, nothing done, when more than is left refundable."""
    found = await _locked_line(session, line_id)
    if found is None:
        return None
    order, line = found
    event = await refunds.refund_without_return(
        session, order, line, amount_fen, RefundReason.QUALITY_CLAIM, note, key=key
    )
    if event is None:
        return None
    return UnitsRefunded(event.amount_fen, event.commission_reversed_fen)


async def collected_lines_count(
    session: AsyncSession,
    since: datetime,
    *,
    user_id: int | None = None,
    point_ids: Sequence[int] | None = None,
) -> int:
    """Order lines collected (at least in part) since `since`: of one resident, or at some
    pickup points (a community's) - the base of a claim rate."""
    last = (
        select(Pickup.order_id, func.max(Pickup.created_at).label("at"))
        .group_by(Pickup.order_id)
        .subquery()
    )
    query = (
        select(func.count(OrderLine.id))
        .join(Order, Order.id == OrderLine.order_id)
        .join(last, last.c.order_id == Order.id)
        .where(OrderLine.picked_qty > 0, last.c.at >= since)
    )
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if point_ids is not None:
        query = query.where(Order.pickup_point_id.in_(point_ids))
    return int(await session.scalar(query) or 0)

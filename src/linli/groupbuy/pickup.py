"""Pickup: the six-digit code a confirmed order gets at the cut-off, and the leader handing
over goods at their pickup point against it (or, as the audited exception, without it), in
full or in part. A hand-over settles the goods' value: the leader's commission accrues, the
merchant's share and the platform's fee are booked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.community import pickup_codes
from linli.community.pickup_codes import normalise_code
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import OrderPickedUp
from linli.groupbuy import commission, policies, refunds
from linli.groupbuy.models import (
    AWAITING_PICKUP,
    CONFIRMED,
    PARTIAL,
    PICKED_UP,
    READY,
    CampaignItem,
    Order,
    OrderLine,
    Pickup,
)
from linli.i18n import N_, Message


async def live_codes(session: AsyncSession, point_ids: set[int]) -> dict[int, set[str]]:
    """The codes live at each pickup point: a new code must not be one of them."""
    codes: dict[int, set[str]] = {point_id: set() for point_id in point_ids}
    if not point_ids:
        return codes
    for point_id, code in (
        await session.execute(
            select(Order.pickup_point_id, Order.pickup_code).where(
                Order.pickup_point_id.in_(point_ids),
                Order.status.in_(AWAITING_PICKUP),
                Order.pickup_code.is_not(None),
            )
        )
    ).all():
        if code is not None:
            codes[point_id].add(code)
    # Nor a code another domain (live selling) has waiting there: one desk, one meaning.
    for point_id in point_ids:
        codes[point_id] |= await pickup_codes.codes_waiting_elsewhere(
            session, point_id, besides="groupbuy"
        )
    return codes


async def codes_waiting_at(session: AsyncSession, point_id: int) -> set[str]:
    """The group-buy orders' codes waiting at one point (for the other domains' draws)."""
    rows = await session.scalars(
        select(Order.pickup_code).where(
            Order.pickup_point_id == point_id,
            Order.status.in_(AWAITING_PICKUP),
            Order.pickup_code.is_not(None),
        )
    )
    return {code for code in rows if code is not None}


# Group buying keeps its own desk for finding (its orders are handed over line by line); the
# other domains only avoid its codes.
pickup_codes.provide_desk(pickup_codes.CodeDesk(kind="groupbuy", codes_at=codes_waiting_at))


@dataclass(frozen=True)
class AwaitingOrder:
    order: Order
    lines: list[tuple[OrderLine, CampaignItem]]
    customer_name: str

    def left(self, line: OrderLine) -> int:
        return (
            0
            if line.group_failed or refunds.refunded_in_full(line)
            else line.quantity - line.picked_qty
        )


async def find_by_code(
    session: AsyncSession, actor: Actor, point_id: int, code: str
) -> AwaitingOrder:
    """The order with this live code at the leader's own pickup point."""
    await policies.access_led_point(session, actor, point_id)
    code = normalise_code(code)
    found = await _awaiting(session, point_id, Order.pickup_code == code)
    if found is None:
        raise NotFound(
            N_("No order waiting here has this code."),
            code="pickup_code_not_found",
            fields={"code": N_("Not a code waiting at this pickup point.")},
        )
    return found


async def find_by_order(
    session: AsyncSession, actor: Actor, point_id: int, order_id: int
) -> AwaitingOrder:
    """An order waiting at the leader's own pickup point, by its number (no code)."""
    await policies.access_led_point(session, actor, point_id)
    found = await _awaiting(session, point_id, Order.id == order_id)
    if found is None:
        raise NotFound(N_("No order with this number waits here."), code="order_not_found")
    return found


async def _awaiting(
    session: AsyncSession, point_id: int, which: ColumnElement[bool]
) -> AwaitingOrder | None:
    from linli.accounts.models import User

    row = (
        await session.execute(
            select(Order, User.display_name)
            .join(User, User.id == Order.user_id)
            .where(Order.pickup_point_id == point_id, which, Order.status.in_(AWAITING_PICKUP))
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        return None
    order, name = row
    if order.status == CONFIRMED:
        raise Conflict(N_("This order's goods have not arrived here yet."), code="not_arrived")
    lines = (
        await session.execute(
            select(OrderLine, CampaignItem)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return AwaitingOrder(order, [(line, item) for line, item in lines], name)


@dataclass(frozen=True)
class PickupResult:
    order: Order
    pickup: Pickup
    commission_fen: int
    complete: bool


async def verify_pickup(
    session: AsyncSession,
    actor: Actor,
    point_id: int,
    code: str,
    quantities: dict[int, int] | None = None,
    *,
    how: str = "typed",
) -> PickupResult:
    """Hand over goods against a pickup code at the leader's point: all that is left, or the
    given quantity per order line (partial pickup). Settles the goods' value: the leader's
    commission accrues, the merchant's share and the platform's fee are booked.

    The code is the resident's proof of collection: only the resident sees it (in their order
    and inbox); leaders and merchants never do (sorting lists carry none)."""
    found = await find_by_code(session, actor, point_id, code)
    return await _hand_over(session, actor, point_id, found, quantities, how=how)


MANUAL = "manual"  # Pickup.how of a hand-over without the resident's code


async def hand_over_without_code(
    session: AsyncSession,
    actor: Actor,
    point_id: int,
    order_id: int,
    reason: str,
    quantities: dict[int, int] | None = None,
) -> PickupResult:
    """The exception: the resident cannot show their code (phone flat, sent a neighbour).
    The leader hands over anyway and says why; the pickup is recorded as `manual`, audited
    with the reason, and the resident is told at once (inbox), so a hand-over they did not
    receive is reported by the one person who knows."""
    reason = reason.strip()
    if not 2 <= len(reason) <= 200:
        raise ValidationFailed(
            N_("Say why the goods are handed over without the code."),
            fields={"reason": N_("Enter 2 to 200 characters.")},
        )
    found = await find_by_order(session, actor, point_id, order_id)
    return await _hand_over(session, actor, point_id, found, quantities, how=MANUAL, reason=reason)


async def _hand_over(
    session: AsyncSession,
    actor: Actor,
    point_id: int,
    found: AwaitingOrder,
    quantities: dict[int, int] | None,
    *,
    how: str,
    reason: str = "",
) -> PickupResult:
    order = found.order
    wanted = (
        {line.id: found.left(line) for line, _ in found.lines}
        if quantities is None
        else dict(quantities)
    )
    known = {line.id: line for line, _ in found.lines}
    fields: dict[str, str | Message] = {}
    for line_id, quantity in wanted.items():
        line = known.get(line_id)
        if line is None:
            fields[f"lines.{line_id}"] = N_("Not a line of this order.")
        elif not 0 <= quantity <= found.left(line):
            fields[f"lines.{line_id}"] = N_("More than is left to collect.")
    if fields:
        raise ValidationFailed(N_("Check the quantities."), fields=fields)
    wanted = {line_id: q for line_id, q in wanted.items() if q > 0}
    if not wanted:
        raise ValidationFailed(
            N_("Check the quantities."),
            fields={"lines": N_("Hand over at least one item.")},
            code="nothing_to_collect",
        )
    handed: list[tuple[OrderLine, int]] = []
    for line_id, quantity in wanted.items():
        # Conditional: two leaders' taps on the same code never hand over more than was bought.
        taken = await session.scalar(
            update(OrderLine)
            .where(
                OrderLine.id == line_id,
                OrderLine.group_failed.is_(False),
                OrderLine.picked_qty + quantity <= OrderLine.quantity,
            )
            .values(picked_qty=OrderLine.picked_qty + quantity)
            .returning(OrderLine.picked_qty)
            .execution_options(synchronize_session=False)
        )
        if taken is None:
            raise Conflict(N_("These goods were handed over already."), code="already_collected")
        known[line_id].picked_qty = int(taken)
        handed.append((known[line_id], quantity))
    complete = all(found.left(line) == 0 for line, _ in found.lines)
    now = clock.now()
    status = PICKED_UP if complete else PARTIAL
    moved = await session.scalar(
        update(Order)
        .where(Order.id == order.id, Order.status.in_((READY, PARTIAL)))
        .values(status=status, picked_up_at=now if complete else None)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Conflict(N_("This order is no longer waiting for pickup."), code="not_awaiting")
    order.status = status
    goods_fen = sum(line.unit_price_fen * quantity for line, quantity in handed)
    leader_user_id = actor.require_user_id()
    commission_bp, fee_bp = await commission.rates(session, leader_user_id)
    pickup = Pickup(
        order_id=order.id,
        pickup_point_id=point_id,
        verified_by_user_id=leader_user_id,
        how=how,
        goods_fen=goods_fen,
        leader_user_id=leader_user_id,
        commission_bp=commission_bp,
        platform_fee_bp=fee_bp,
        created_at=now,
    )
    session.add(pickup)
    await session.flush()
    commission_fen = await commission.accrue(session, order, pickup, handed)
    outbox.publish(
        session,
        OrderPickedUp(
            order_id=order.id,
            user_id=order.user_id,
            pickup_point_id=point_id,
            leader_user_id=leader_user_id,
            goods_fen=goods_fen,
            commission_fen=commission_fen,
            complete=complete,
            without_code=how == MANUAL,
            reason=reason,
            merchant_organisation_id=order.organisation_id,
        ),
    )
    details: dict[str, Any] = {
        "how": how,
        "goods_fen": goods_fen,
        "lines": {str(line.id): quantity for line, quantity in handed},
        "complete": complete,
    }
    if how == MANUAL:
        details["reason"] = reason
    audit.record(
        session,
        actor,
        "groupbuy.handed_over_without_code" if how == MANUAL else "groupbuy.order_picked_up",
        target_type="groupbuy_order",
        target_id=order.id,
        **details,
    )
    return PickupResult(order, pickup, commission_fen, complete)


async def waiting_counts(session: AsyncSession, point_ids: Sequence[int]) -> dict[int, int]:
    """Orders waiting for pickup at each of the points, in one statement."""
    counts = {point_id: 0 for point_id in point_ids}
    if counts:
        rows = await session.execute(
            select(Order.pickup_point_id, func.count())
            .where(Order.pickup_point_id.in_(counts), Order.status.in_((READY, PARTIAL)))
            .group_by(Order.pickup_point_id)
        )
        counts.update({point_id: int(n) for point_id, n in rows.all()})
    return counts

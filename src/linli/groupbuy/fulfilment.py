"""After the cut-off: groups form or fail per pickup point, the merchant ships, the leader
receives, residents collect with their pickup code, and what nobody collects is handled by rule.

Every transition is one conditional UPDATE on the row's current status, so a job that runs
twice, or a leader who taps twice, changes nothing the second time. Money moves only through
`payments.refund` (back to the resident) and `ledger.settle` (at pickup, from clearing to the
merchant, the leader's commission and the platform's fee).
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import GROUPBUY_MANAGE, PAYMENTS_REFUND, Actor
from linli.catalog import stock
from linli.community import points as pickup_points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import (
    CampaignClosed,
    DeliveryShipped,
    GroupFailed,
    OrderPickedUp,
    OrderReadyForPickup,
    OrderRefunded,
    OrderUncollected,
)
from linli.groupbuy import commission, policies
from linli.groupbuy.models import (
    ARRIVED,
    AWAITING_PICKUP,
    CANCELLED,
    CLOSED,
    CONFIRMED,
    DELIVERY_CONFIRMED,
    PAID,
    PARTIAL,
    PENDING_PAYMENT,
    PICKED_UP,
    PUBLISHED,
    READY,
    SHIPPED,
    UNCOLLECTED,
    Campaign,
    CampaignItem,
    Delivery,
    GroupOutcome,
    Order,
    OrderLine,
    Pickup,
)
from linli.groupbuy.service import expire_order, payment_of
from linli.groupbuy.states import CancelReason
from linli.i18n import N_, Message
from linli.jobs import UncollectedCheck
from linli.payments import service as payments
from linli.payments.reasons import RefundReason
from linli.rules import service as rules

log = logging.getLogger(__name__)

UNCOLLECTED_JOB = UncollectedCheck.job_kind
UNCOLLECTED_RULE = "groupbuy.uncollected"
CODE_DIGITS = 6
# Orders that hold goods (not cancelled, not unpaid): what procurement buys.
FULFILLED = (CONFIRMED, READY, PARTIAL, PICKED_UP, UNCOLLECTED)


# --- cut-off ------------------------------------------------------------------------------


@dataclass
class CutoffResult:
    campaign_id: int
    confirmed_orders: int = 0
    failed_orders: int = 0
    partly_failed_orders: int = 0
    cancelled_unpaid: int = 0
    refunded_fen: int = 0
    outcomes: list[GroupOutcome] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


def refunded_in_full(line: OrderLine) -> bool:
    """Refunded already (e.g. recalled before the cut-off): neither counted nor handed over."""
    return line.refunded_fen >= line.amount_fen


def _group_totals(
    rows: Iterable[tuple[Order, OrderLine]],
) -> dict[tuple[int, int], int]:
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for order, line in rows:
        if not refunded_in_full(line):
            totals[(line.item_id, order.pickup_point_id)] += line.quantity
    return totals


async def run_cutoff(session: AsyncSession, campaign_id: int) -> CutoffResult | None:
    """Close a campaign at its cut-off (due job; a second run does nothing): cancel what is
    still unpaid, decide every item's group at every pickup point against its threshold,
    refund what failed, give pickup codes to what formed, return unsold stock to the SKU and
    create one delivery per pickup point."""
    now = clock.now()
    campaign = await session.scalar(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == PUBLISHED, Campaign.cutoff_at <= now)
        .values(status=CLOSED, closed_at=now)
        .returning(Campaign)
        .execution_options(synchronize_session=False)
    )
    if campaign is None:
        return None
    result = CutoffResult(campaign_id)
    await _cancel_unpaid(session, campaign, result)
    items = {
        item.id: item
        for item in await session.scalars(
            select(CampaignItem)
            .where(CampaignItem.campaign_id == campaign.id)
            .execution_options(populate_existing=True)
        )
    }
    rows = [
        (order, line)
        for order, line in (
            await session.execute(
                select(Order, OrderLine)
                .join(OrderLine, OrderLine.order_id == Order.id)
                .where(Order.campaign_id == campaign.id, Order.status == PAID)
                .order_by(Order.id, OrderLine.id)
                .execution_options(populate_existing=True)
            )
        ).all()
    ]
    formed: dict[tuple[int, int], bool] = {}
    for (item_id, point_id), quantity in sorted(_group_totals(rows).items()):
        threshold = items[item_id].min_group_qty
        formed[(item_id, point_id)] = quantity >= threshold
        outcome = GroupOutcome(
            campaign_id=campaign.id,
            item_id=item_id,
            pickup_point_id=point_id,
            quantity=quantity,
            threshold=threshold,
            formed=quantity >= threshold,
            decided_at=now,
        )
        session.add(outcome)
        result.outcomes.append(outcome)
    by_order: dict[int, tuple[Order, list[OrderLine]]] = {}
    for order, line in rows:
        by_order.setdefault(order.id, (order, []))[1].append(line)
    returned: dict[int, int] = defaultdict(int)  # item -> units back to the SKU
    points: dict[int, int] = defaultdict(int)  # pickup point -> confirmed orders
    live_codes = await _live_codes(session, {order.pickup_point_id for order, _ in rows})
    for order, lines in by_order.values():
        failed = [
            line
            for line in lines
            if not refunded_in_full(line) and not formed[(line.item_id, order.pickup_point_id)]
        ]
        refund_fen = sum(line.amount_fen - line.refunded_fen for line in failed)
        for line in failed:
            line.group_failed = True
            line.refunded_fen = line.amount_fen
            returned[line.item_id] += line.quantity
        whole = all(line.group_failed or refunded_in_full(line) for line in lines)
        if whole:
            order.status, order.cancelled_at = CANCELLED, now
            order.cancel_reason = CancelReason.GROUP_FAILED
            result.failed_orders += 1
        else:
            order.status, order.confirmed_at = CONFIRMED, now
            order.pickup_code = _new_code(live_codes[order.pickup_point_id])
            points[order.pickup_point_id] += 1
            result.confirmed_orders += 1
            result.partly_failed_orders += bool(failed)
        if refund_fen:
            order.refunded_fen += refund_fen
            await _refund(
                session,
                order,
                refund_fen,
                RefundReason.GROUP_FAILED,
                "group did not form",
                f"group-{order.id}",
            )
            result.refunded_fen += refund_fen
            outbox.publish(
                session,
                GroupFailed(
                    order_id=order.id,
                    user_id=order.user_id,
                    campaign_id=campaign.id,
                    pickup_point_id=order.pickup_point_id,
                    refunded_fen=refund_fen,
                    whole_order=whole,
                ),
            )
    await _return_stock(session, items.values(), returned)
    for point_id, count in sorted(points.items()):
        delivery = Delivery(
            campaign_id=campaign.id,
            organisation_id=campaign.organisation_id,
            pickup_point_id=point_id,
            status=DELIVERY_CONFIRMED,
            orders=count,
            created_at=now,
        )
        session.add(delivery)
        result.deliveries.append(delivery)
    await session.flush()
    outbox.publish(
        session,
        CampaignClosed(
            campaign_id=campaign.id,
            merchant_organisation_id=campaign.organisation_id,
            confirmed_orders=result.confirmed_orders,
            failed_orders=result.failed_orders,
            refunded_fen=result.refunded_fen,
            pickup_point_ids=sorted(points),
        ),
    )
    audit.record(
        session,
        Actor.for_system(),
        "groupbuy.campaign_closed",
        target_type="campaign",
        target_id=campaign.id,
        confirmed=result.confirmed_orders,
        failed=result.failed_orders,
        partly_failed=result.partly_failed_orders,
        unpaid_cancelled=result.cancelled_unpaid,
        refunded_fen=result.refunded_fen,
    )
    return result


async def _cancel_unpaid(session: AsyncSession, campaign: Campaign, result: CutoffResult) -> None:
    """Orders still unpaid at the cut-off cannot join a group that is being decided now."""
    unpaid = (
        await session.scalars(
            select(Order).where(Order.campaign_id == campaign.id, Order.status == PENDING_PAYMENT)
        )
    ).all()
    for order in unpaid:
        intent = await payment_of(session, order)
        if await expire_order(
            session, order.id, intent.id if intent else None, reason=CancelReason.CUTOFF
        ):
            result.cancelled_unpaid += 1


async def _return_stock(
    session: AsyncSession, items: Iterable[CampaignItem], returned: dict[int, int]
) -> None:
    """Units never sold, and units of failed groups, go back to the SKU's own stock."""
    for item in items:
        units = item.remaining + returned.get(item.id, 0)
        if item.remaining:
            await session.execute(
                update(CampaignItem)
                .where(CampaignItem.id == item.id)
                .values(remaining=0)
                .execution_options(synchronize_session=False)
            )
        await stock.release(
            session,
            Actor.for_system(),
            sku_id=item.sku_id,
            units=units,
            reason="groupbuy.campaign_closed",
            campaign_id=item.campaign_id,
        )


async def _live_codes(session: AsyncSession, point_ids: set[int]) -> dict[int, set[str]]:
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
    return codes


def _new_code(taken: set[str]) -> str:
    """Six random digits not live at this pickup point (a unique index is the last word)."""
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if code not in taken:
            taken.add(code)
            return code


async def _refund(
    session: AsyncSession,
    order: Order,
    amount_fen: int,
    reason_code: RefundReason,
    reason: str,
    key: str,
) -> None:
    intent = await payment_of(session, order)
    if intent is None:  # a paid order always has one; never refund into the void
        raise RuntimeError(f"groupbuy order {order.id} has no payment intent")
    await payments.refund(
        session,
        Actor.for_system(),
        intent.id,
        amount_fen,
        reason,
        reason_code=reason_code,
        idempotency_key=key,
    )


# --- delivery -----------------------------------------------------------------------------


async def access_delivery(
    session: AsyncSession, organisation_id: int, delivery_id: int
) -> Delivery:
    delivery = await session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.organisation_id == organisation_id)
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(N_("No such delivery."), code="delivery_not_found")
    return delivery


async def ship(session: AsyncSession, actor: Actor, delivery_id: int) -> Delivery:
    """The merchant sends one pickup point's goods on their way."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    delivery = await access_delivery(session, organisation_id, delivery_id)
    shipped = await session.scalar(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == DELIVERY_CONFIRMED)
        .values(status=SHIPPED, shipped_at=clock.now(), shipped_by_user_id=actor.user_id)
        .returning(Delivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if shipped is None:
        if delivery.status in (SHIPPED, ARRIVED):
            return delivery
        raise Conflict(N_("This delivery cannot be shipped now."), code="not_shippable")
    leader = await pickup_points.leader_of(session, shipped.pickup_point_id)
    outbox.publish(
        session,
        DeliveryShipped(
            delivery_id=shipped.id,
            campaign_id=shipped.campaign_id,
            pickup_point_id=shipped.pickup_point_id,
            leader_user_id=leader,
        ),
    )
    audit.record(
        session, actor, "groupbuy.delivery_shipped", target_type="delivery", target_id=shipped.id
    )
    return shipped


async def ship_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> list[Delivery]:
    """Ship every pickup point's goods of one campaign at once."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    ids = (
        await session.scalars(
            select(Delivery.id)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.organisation_id == organisation_id,
            )
            .order_by(Delivery.id)
        )
    ).all()
    if not ids:
        raise NotFound(N_("This campaign has nothing to ship."), code="delivery_not_found")
    return [await ship(session, actor, delivery_id) for delivery_id in ids]


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


async def confirm_arrival(session: AsyncSession, actor: Actor, delivery_id: int) -> Delivery:
    """The leader received a delivery: its orders become ready for pickup, residents get
    their code, and the collection period of the `groupbuy.uncollected` rule starts."""
    delivery = await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(N_("No such delivery."), code="delivery_not_found")
    await access_led_point(session, actor, delivery.pickup_point_id)
    if delivery.status == ARRIVED:
        return delivery
    if delivery.status != SHIPPED:
        raise Conflict(N_("The merchant has not shipped this delivery yet."), code="not_shipped")
    rule = await rules.in_force(session, UNCOLLECTED_RULE)
    now = clock.now()
    collect_by = now + timedelta(days=int(rule.values["days"]))
    arrived = await session.scalar(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == SHIPPED)
        .values(
            status=ARRIVED, arrived_at=now, received_by_user_id=actor.user_id, collect_by=collect_by
        )
        .returning(Delivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if arrived is None:  # a concurrent tap got there first
        return await _refreshed(session, delivery)
    ready = (
        await session.execute(
            update(Order)
            .where(
                Order.campaign_id == arrived.campaign_id,
                Order.pickup_point_id == arrived.pickup_point_id,
                Order.status == CONFIRMED,
            )
            .values(status=READY, ready_at=now)
            .returning(Order.id, Order.user_id, Order.pickup_code)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for order_id, user_id, code in ready:
        outbox.publish(
            session,
            OrderReadyForPickup(
                order_id=order_id,
                user_id=user_id,
                pickup_point_id=arrived.pickup_point_id,
                pickup_code=code,
                collect_by=collect_by.isoformat(),
            ),
        )
    await outbox.schedule(
        session,
        UncollectedCheck(delivery_id=arrived.id),
        collect_by,
        dedupe_key=f"groupbuy-uncollected-{arrived.id}",
    )
    audit.record(
        session,
        actor,
        "groupbuy.delivery_arrived",
        target_type="delivery",
        target_id=arrived.id,
        orders=len(ready),
        rule=f"{rule.rule_id}@{rule.version}",
    )
    return arrived


async def _refreshed(session: AsyncSession, delivery: Delivery) -> Delivery:
    await session.refresh(delivery)
    return delivery


# --- pickup -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwaitingOrder:
    order: Order
    lines: list[tuple[OrderLine, CampaignItem]]
    customer_name: str

    def left(self, line: OrderLine) -> int:
        return 0 if line.group_failed or refunded_in_full(line) else line.quantity - line.picked_qty


def normalise_code(text: str) -> str:
    """A typed or scanned code: digits only (spaces and dashes dropped), six of them."""
    digits = "".join(ch for ch in text.strip() if ch not in " -")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise ValidationFailed(
            N_("Check the pickup code."),
            fields={"code": N_("Enter the six digits of the pickup code.")},
            code="bad_pickup_code",
        )
    return digits


async def find_by_code(
    session: AsyncSession, actor: Actor, point_id: int, code: str
) -> AwaitingOrder:
    """The order with this live code at the leader's own pickup point."""
    await access_led_point(session, actor, point_id)
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
    await access_led_point(session, actor, point_id)
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


# --- what nobody collected ------------------------------------------------------------------


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
        await _refund(
            session,
            order,
            total,
            RefundReason.UNCOLLECTED,
            "not collected",
            f"uncollected-{order.id}",
        )
    return total


# --- refunds of collected goods -----------------------------------------------------------


async def refund_collected(
    session: AsyncSession,
    actor: Actor,
    order_id: int,
    line_id: int,
    quantity: int,
    reason: str,
) -> OrderRefunded:
    """The merchant refunds collected goods (e.g. a quality problem): the settlement of their
    value is reversed (the leader's commission and the platform's fee included) and the money
    goes back to the resident."""
    organisation_id = policies.acting_merchant(actor, PAYMENTS_REFUND)
    row = (
        await session.execute(
            select(Order, OrderLine)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.id == order_id,
                Order.organisation_id == organisation_id,
                OrderLine.id == line_id,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    order, line = row
    if quantity < 1:
        raise ValidationFailed(
            N_("Check the refund."), fields={"quantity": N_("Enter at least 1.")}
        )
    if not 1 <= len(reason.strip()) <= 200:
        raise ValidationFailed(
            N_("Check the refund."), fields={"reason": N_("Enter 1 to 200 characters.")}
        )
    returned = await _take_back(session, line.id, quantity)
    if returned is None:
        raise ValidationFailed(
            N_("Check the refund."),
            fields={"quantity": N_("More than what was collected and not yet refunded.")},
            code="refund_exceeds_collected",
        )
    amount = quantity * line.unit_price_fen
    reversed_fen = await commission.reverse(session, order, line, quantity, returned)
    line.refunded_fen += amount
    order.refunded_fen += amount
    await _refund(
        session,
        order,
        amount,
        RefundReason.MERCHANT_DECISION,
        reason.strip(),
        f"collected-{line.id}-{returned}",
    )
    event = OrderRefunded(
        order_id=order.id,
        user_id=order.user_id,
        amount_fen=amount,
        reason=reason.strip(),
        commission_reversed_fen=reversed_fen,
    )
    outbox.publish(session, event)
    audit.record(
        session,
        actor,
        "groupbuy.collected_goods_refunded",
        target_type="groupbuy_order",
        target_id=order.id,
        line_id=line.id,
        quantity=quantity,
        amount_fen=amount,
        commission_reversed_fen=reversed_fen,
    )
    return event


async def _take_back(session: AsyncSession, line_id: int, quantity: int) -> int | None:
    """Count `quantity` collected units of a line as returned (never more than were
    collected); the new total, or None when that would be too many."""
    returned = await session.scalar(
        update(OrderLine)
        .where(OrderLine.id == line_id, OrderLine.returned_qty + quantity <= OrderLine.picked_qty)
        .values(returned_qty=OrderLine.returned_qty + quantity)
        .returning(OrderLine.returned_qty)
        .execution_options(synchronize_session=False)
    )
    return None if returned is None else int(returned)


async def refund_line_in_full(
    session: AsyncSession,
    order: Order,
    line: OrderLine,
    reason_code: RefundReason,
    reason: str,
    key: str,
) -> int:
    """Give back everything still paid for a line (a recall): collected units have their
    settlement and commission reversed first; an order left with nothing to hand over is
    cancelled (for the same reason: a recall cancels as `recalled`), so its pickup code
    dies. Returns the amount refunded."""
    collected = line.picked_qty - line.returned_qty
    if collected > 0:
        returned = await _take_back(session, line.id, collected)
        if returned is not None:
            line.returned_qty = returned
            await commission.reverse(session, order, line, collected, returned)
    amount = line.amount_fen - line.refunded_fen
    if amount <= 0:
        return 0
    line.refunded_fen += amount
    order.refunded_fen += amount
    await _refund(session, order, amount, reason_code, reason, key)
    lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))).all()
    nothing_left = all(
        other.group_failed or refunded_in_full(other) or other.picked_qty >= other.quantity
        for other in lines
    )
    if nothing_left and order.status in (PAID, *AWAITING_PICKUP):
        never_collected = all(other.picked_qty == 0 for other in lines)
        order.status = CANCELLED if never_collected else PICKED_UP
        if never_collected:
            order.cancelled_at = clock.now()
            order.cancel_reason = (
                CancelReason.RECALLED
                if reason_code == RefundReason.RECALL
                else CancelReason.REFUNDED
            )
    return amount


# --- reading -------------------------------------------------------------------------------


async def deliveries_for_merchant(
    session: AsyncSession, actor: Actor, campaign_id: int | None = None
) -> Sequence[Delivery]:
    organisation_id = policies.acting_merchant(actor)
    query = select(Delivery).where(Delivery.organisation_id == organisation_id)
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
    return (await session.scalars(query.order_by(Delivery.id.desc()).limit(200))).all()


async def deliveries_for_leader(
    session: AsyncSession, actor: Actor, *, statuses: Sequence[str] | None = None
) -> Sequence[tuple[Delivery, Campaign]]:
    point_ids = [p.id for p in await led_points(session, actor)]
    if not point_ids:
        return []
    query = (
        select(Delivery, Campaign)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.pickup_point_id.in_(point_ids))
    )
    if statuses:
        query = query.where(Delivery.status.in_(statuses))
    rows = await session.execute(
        query.order_by(Campaign.pickup_date.desc(), Delivery.id).limit(200)
    )
    return [(d, c) for d, c in rows.all()]


async def uncollected_orders(session: AsyncSession, actor: Actor, point_id: int) -> Sequence[Order]:
    await access_led_point(session, actor, point_id)
    return (
        await session.scalars(
            select(Order)
            .where(Order.pickup_point_id == point_id, Order.status == UNCOLLECTED)
            .order_by(Order.id.desc())
            .limit(200)
        )
    ).all()


async def waiting_count(session: AsyncSession, point_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Order.pickup_point_id == point_id, Order.status.in_((READY, PARTIAL))
        )
    )
    return int(count or 0)

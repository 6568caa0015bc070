"""The cut-off (a due job; a second run does nothing): unpaid orders are cancelled, every
item's group forms or fails at every pickup point, what failed is refunded, what formed gets
its pickup codes, unsold stock goes back to the SKU and each pickup point gets a delivery.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.catalog import stock
from linli.community import pickup_codes
from linli.events import CampaignClosed, GroupFailed
from linli.groupbuy import checkout, orders, pickup, refunds
from linli.groupbuy.models import (
    CANCELLED,
    CLOSED,
    CONFIRMED,
    DELIVERY_CONFIRMED,
    PAID,
    PENDING_PAYMENT,
    PUBLISHED,
    Campaign,
    CampaignItem,
    Delivery,
    GroupOutcome,
    Order,
    OrderLine,
)
from linli.groupbuy.states import CancelReason
from linli.payments.reasons import RefundReason


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


def _group_totals(
    rows: Iterable[tuple[Order, OrderLine]],
) -> dict[tuple[int, int], int]:
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for order, line in rows:
        if not refunds.refunded_in_full(line):
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
    live_codes = await pickup.live_codes(session, {order.pickup_point_id for order, _ in rows})
    for order, lines in by_order.values():
        failed = [
            line
            for line in lines
            if not refunds.refunded_in_full(line)
            and not formed[(line.item_id, order.pickup_point_id)]
        ]
        refund_fen = sum(line.amount_fen - line.refunded_fen for line in failed)
        for line in failed:
            line.group_failed = True
            line.refunded_fen = line.amount_fen
            returned[line.item_id] += line.quantity
        whole = all(line.group_failed or refunds.refunded_in_full(line) for line in lines)
        if whole:
            order.status, order.cancelled_at = CANCELLED, now
            order.cancel_reason = CancelReason.GROUP_FAILED
            result.failed_orders += 1
        else:
            order.status, order.confirmed_at = CONFIRMED, now
            order.pickup_code = pickup_codes.new_code(live_codes[order.pickup_point_id])
            points[order.pickup_point_id] += 1
            result.confirmed_orders += 1
            result.partly_failed_orders += bool(failed)
        if refund_fen:
            order.refunded_fen += refund_fen
            await refunds.refund_order(
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
        intent = await checkout.payment_of(session, order)
        if await orders.expire_order(
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

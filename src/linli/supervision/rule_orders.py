"""The rules an `OrderPaid` runs (price discrimination, history pricing, a lapsed licence),
screened by one query so that the common case costs one round trip (docs/supervision.md,
"Cost"): whether the order was paid, whether any other paid line of the order's SKUs in the
widest window carries a different unit price, and whether any licence type of the merchant
has lapsed. Only what the screen flags runs its rule, which decides exactly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Date,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import LOCAL
from linli.db import UTCDateTime
from linli.events import OrderPaid
from linli.groupbuy.models import CampaignItem, Order, OrderLine
from linli.merchants.models import Licence
from linli.supervision import rule_defaults as R
from linli.supervision import rule_evaluation, rule_history
from linli.supervision.rule_history import PaidOrder
from linli.supervision.rule_service import in_force, merchant_codes

# The event is published in the payment's transaction, so its time is the order's paid_at
# to within this; further apart (an event delivered long after, a replay), the rules read
# the order itself.
TOLERANCE = timedelta(minutes=1)


def _screen() -> Select[Any]:
    """Built once (building it per event, aliases and all, cost more than running it)."""
    lines, items, orders = OrderLine.__table__, CampaignItem.__table__, Order.__table__
    mine, mine_item = lines.alias("mine"), items.alias("mine_item")
    other, other_item, other_order = (
        lines.alias("other"),
        items.alias("other_item"),
        orders.alias("other_order"),
    )
    order_id: BindParameter[int] = bindparam("order_id")
    # The lines of the order's SKUs at another unit price first, on their own (MATERIALIZED:
    # two ranges of ix_groupbuy_order_lines_item_price, "<" and ">", usually empty), and only
    # then their orders' merchant and window. Joined in one query, the planner could start
    # from the merchant's orders in the window instead (on statistics older than a flash
    # sale it does), and every OrderPaid of the sale then read all its earlier orders.
    differing = (
        select(other.c.order_id)
        .select_from(
            mine.join(mine_item, mine_item.c.id == mine.c.item_id)
            .join(other_item, other_item.c.sku_id == mine_item.c.sku_id)
            .join(
                other,
                and_(
                    other.c.item_id == other_item.c.id,
                    or_(
                        other.c.unit_price_fen < mine.c.unit_price_fen,
                        other.c.unit_price_fen > mine.c.unit_price_fen,
                    ),
                ),
            )
        )
        .where(mine.c.order_id == order_id, other.c.order_id != order_id)
        .cte("differing")
        .prefix_with("MATERIALIZED")
    )
    differs = exists(
        select(literal(1))
        .select_from(differing.join(other_order, other_order.c.id == differing.c.order_id))
        .where(
            other_order.c.organisation_id == bindparam("merchant"),
            other_order.c.paid_at.is_not(None),
            other_order.c.paid_at >= bindparam("since", type_=UTCDateTime),
            other_order.c.paid_at <= bindparam("until", type_=UTCDateTime),
        )
    )
    licences = Licence.__table__
    lapsed = exists(
        select(licences.c.licence_type)
        .where(licences.c.organisation_id == bindparam("merchant"))
        .group_by(licences.c.licence_type)
        .having(func.max(licences.c.valid_to) < bindparam("today", type_=Date))
    )
    paid_at = select(orders.c.paid_at).where(orders.c.id == order_id).scalar_subquery()
    return select(paid_at, differs, lapsed)


_SCREEN = _screen()


async def order_paid(session: AsyncSession, event: OrderPaid, at: datetime) -> None:
    merchant = event.merchant_organisation_id
    codes = await merchant_codes(session, merchant)
    discrimination = await in_force(session, R.PRICE_DISCRIMINATION, codes)
    history = await in_force(session, R.HISTORY_PRICING, codes)
    span = (
        timedelta(
            minutes=max(discrimination.params["window_minutes"], history.params["window_minutes"])
        )
        + TOLERANCE
    )
    today = clock.now().astimezone(LOCAL).date()
    # On the connection: a Core statement needs none of the ORM session's execution work.
    connection = await session.connection()
    screen = (
        await connection.execute(
            _SCREEN,
            {
                "order_id": event.order_id,
                "merchant": merchant,
                "since": at - span,
                "until": at + span,
                "today": today,
            },
        )
    ).one()
    if screen[0] is None:
        return
    head = PaidOrder(event.order_id, event.user_id, merchant, screen[0], codes)
    near = abs(head.paid_at - at) <= TOLERANCE
    if screen[1] or not near:
        await rule_evaluation.price_discrimination(session, event.order_id, head)
        await rule_history.history_pricing(session, head, history)
    if screen[2]:
        await rule_evaluation.licence_lapsed(session, merchant, today)

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
    union_all,
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
    merchant: BindParameter[int] = bindparam("merchant")
    since = bindparam("since", type_=UTCDateTime)
    until = bindparam("until", type_=UTCDateTime)
    # Every campaign item of the order's SKUs, each with the order's unit price for it
    # (MATERIALIZED: read first, so the planner cannot start from the merchant's orders in
    # the window, which on a flash sale's stale statistics made every OrderPaid read all the
    # sale's earlier orders). A SKU's items are one per campaign: few.
    sku_items = (
        select(
            other_item.c.id,
            other_item.c.campaign_id,
            other_item.c.group_price_fen,
            mine.c.unit_price_fen.label("price"),
        )
        .select_from(
            mine.join(mine_item, mine_item.c.id == mine.c.item_id).join(
                other_item, other_item.c.sku_id == mine_item.c.sku_id
            )
        )
        .where(mine.c.order_id == order_id)
        .cte("sku_items")
        .prefix_with("MATERIALIZED")
    )

    def in_window(order: Any) -> Any:
        return and_(
            order.c.organisation_id == merchant,
            order.c.paid_at.is_not(None),
            order.c.paid_at >= since,
            order.c.paid_at <= until,
            order.c.id != order_id,
        )

    # An item advertised at another price: its campaign's orders paid in the window (index
    # ix_groupbuy_orders_campaign_paid), probed once per such item; a line of that item at a
    # price other than the order's ends the probe. Old campaigns cost one index probe each,
    # whatever they sold.
    probe = (
        select(literal(1))
        .select_from(
            other_order.join(
                other, and_(other.c.order_id == other_order.c.id, other.c.item_id == sku_items.c.id)
            )
        )
        .where(
            other_order.c.campaign_id == sku_items.c.campaign_id,
            in_window(other_order),
            other.c.unit_price_fen != sku_items.c.price,
        )
        .limit(1)
        .correlate(sku_items)
        .scalar_subquery()
    )
    other_price = exists(
        select(literal(1))
        .select_from(sku_items)
        .where(sku_items.c.group_price_fen != sku_items.c.price, probe.is_not(None))
    )

    # An item advertised at the order's price: only its lines sold at another price (an
    # anomaly), as two ranges of ix_groupbuy_order_lines_item_price, "<" and ">" (one OR
    # was planned as the item's every line filtered: all the sale's lines per OrderPaid);
    # then their orders' window.
    def priced(compare: Any) -> Select[Any]:
        return (
            select(other.c.order_id)
            .select_from(
                sku_items.join(
                    other,
                    and_(other.c.item_id == sku_items.c.id, compare(other.c.unit_price_fen)),
                )
            )
            .where(sku_items.c.group_price_fen == sku_items.c.price)
        )

    deviating = (
        union_all(
            priced(lambda price: price < sku_items.c.price),
            priced(lambda price: price > sku_items.c.price),
        )
        .cte("deviating")
        .prefix_with("MATERIALIZED")
    )
    deviating_price = exists(
        select(literal(1))
        .select_from(deviating.join(other_order, other_order.c.id == deviating.c.order_id))
        .where(in_window(other_order))
    )
    differs = or_(other_price, deviating_price)
    licences = Licence.__table__
    lapsed = exists(
        select(licences.c.licence_type)
        .where(licences.c.organisation_id == merchant)
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

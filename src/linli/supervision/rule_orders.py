"""The rules an `OrderPaid` runs (price discrimination, history pricing, a lapsed licence),
screened by one query so that the common case costs one round trip (docs/supervision.md,
"Cost"): whether the order was paid, whether any other paid line of the order's SKUs in the
widest window carries a different unit price, and whether any licence type of the merchant
has lapsed. Only what the screen flags runs its rule, which decides exactly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Date,
    Select,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
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
from linli.supervision.rule_service import RuleInForce, in_force, merchant_codes

# The event is published in the payment's transaction, so its time is the order's paid_at
# to within this; further apart (an event delivered long after, a replay), the rules read
# the order itself.
TOLERANCE = timedelta(minutes=1)


def _screen(
    order_id: ColumnElement[int],
    merchant: ColumnElement[int],
    since: ColumnElement[datetime],
    until: ColumnElement[datetime],
    today: ColumnElement[date],
    *,
    nested: bool = False,
) -> Select[Any]:
    """The screen of one order, its inputs bound parameters (`_SCREEN`) or the columns of the
    batch's row (`_SCREEN_BATCH`); built once (building it per event, aliases and all, cost
    more than running it)."""
    lines, items, orders = OrderLine.__table__, CampaignItem.__table__, Order.__table__
    mine, mine_item = lines.alias("mine"), items.alias("mine_item")
    other, other_item, other_order = (
        lines.alias("other"),
        items.alias("other_item"),
        orders.alias("other_order"),
    )
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
    # Each deviating line's order probed by its key (a subquery per line, which the planner
    # cannot turn into a join): as a join, with the window's bounds the batch's columns (so
    # estimated at one row), the batch's plan started from the merchant's orders in the
    # window, every earlier order of a sale per OrderPaid even with no deviating line.
    in_window_order = (
        select(other_order.c.id)
        .where(other_order.c.id == deviating.c.order_id, in_window(other_order))
        .correlate(deviating)
        .scalar_subquery()
    )
    deviating_price = exists(
        select(literal(1)).select_from(deviating).where(in_window_order.is_not(None))
    )
    differs = or_(other_price, deviating_price)
    licences = Licence.__table__
    lapsed = exists(
        select(licences.c.licence_type)
        .where(licences.c.organisation_id == merchant)
        .group_by(licences.c.licence_type)
        .having(func.max(licences.c.valid_to) < today)
    )
    paid_at = select(orders.c.paid_at).where(orders.c.id == order_id).scalar_subquery()
    screen = select(paid_at.label("paid_at"), differs.label("differs"), lapsed.label("lapsed"))
    # nested: the CTEs in this statement's own WITH (inside a LATERAL subquery, where they read
    # the outer row), not hoisted to the top of the enclosing statement
    return screen.add_cte(sku_items, deviating, nest_here=True) if nested else screen


_SCREEN = _screen(
    bindparam("order_id"),
    bindparam("merchant"),
    bindparam("since", type_=UTCDateTime),
    bindparam("until", type_=UTCDateTime),
    bindparam("today", type_=Date),
)


def _screen_batch() -> Select[Any]:
    """PostgreSQL: the screen of every order of a batch in one statement, one row per order in
    the batch's order. The orders come as arrays (`b_orders`, `b_merchants`, `b_since`,
    `b_until`: one element per order) unnested, each row joined LATERAL to the one-order
    screen, whose CTEs are nested in the LATERAL subquery (evaluated per order, so each keeps
    the one-order plan: the order's SKU items first, then the index probes). Built once: the
    batch's length is in the arrays' values, not in the statement."""

    def array(name: str, of: Any) -> Any:
        return cast(bindparam(name, type_=ARRAY(of)), ARRAY(of))

    batch = (
        func.unnest(
            array("b_orders", BigInteger),
            array("b_merchants", BigInteger),
            array("b_since", UTCDateTime),
            array("b_until", UTCDateTime),
        )
        .table_valued("order_id", "merchant", "since", "until", with_ordinality="n")
        .render_derived(name="b")
    )
    # The batch's columns as plain names: the nested statements then add no FROM for them,
    # they are the LATERAL subquery's outer references.
    one = _screen(
        literal_column("b.order_id", BigInteger),
        literal_column("b.merchant", BigInteger),
        literal_column("b.since", UTCDateTime),
        literal_column("b.until", UTCDateTime),
        bindparam("today", type_=Date),
        nested=True,
    )
    screen = one.lateral("s")
    return (
        select(screen.c.paid_at, screen.c.differs, screen.c.lapsed)
        .select_from(batch.join(screen, true()))
        .order_by(literal_column("b.n"))
    )


_SCREEN_BATCH = _screen_batch()


async def _rules(
    session: AsyncSession, merchant: int
) -> tuple[tuple[str, ...], RuleInForce, timedelta]:
    """The merchant's jurisdictions, the history-pricing version in force and the screen's
    half-window (the wider of the two rules' windows, plus the tolerance)."""
    codes = await merchant_codes(session, merchant)
    discrimination = await in_force(session, R.PRICE_DISCRIMINATION, codes)
    history = await in_force(session, R.HISTORY_PRICING, codes)
    span = (
        timedelta(
            minutes=max(discrimination.params["window_minutes"], history.params["window_minutes"])
        )
        + TOLERANCE
    )
    return codes, history, span


async def _flagged(
    session: AsyncSession,
    event: OrderPaid,
    at: datetime,
    codes: tuple[str, ...],
    history: RuleInForce,
    today: date,
    screen: Sequence[Any],
) -> None:
    """What the screen of one order flags runs its rule."""
    if screen[0] is None:
        return
    merchant = event.merchant_organisation_id
    head = PaidOrder(event.order_id, event.user_id, merchant, screen[0], codes)
    near = abs(head.paid_at - at) <= TOLERANCE
    if screen[1] or not near:
        await rule_evaluation.price_discrimination(session, event.order_id, head)
        await rule_history.history_pricing(session, head, history)
    if screen[2]:
        await rule_evaluation.licence_lapsed(session, merchant, today)


async def order_paid(session: AsyncSession, event: OrderPaid, at: datetime) -> None:
    merchant = event.merchant_organisation_id
    codes, history, span = await _rules(session, merchant)
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
    await _flagged(session, event, at, codes, history, today, screen)


async def orders_paid(session: AsyncSession, paid: Sequence[tuple[OrderPaid, datetime]]) -> None:
    """`order_paid` for each (event, time) of a batch, in turn. On PostgreSQL the batch's
    screens are one statement (`_SCREEN_BATCH`), then what each flags runs its rules in the
    batch's order (the rules write alerts, which no screen reads); on SQLite, `order_paid` on
    each."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        for event, at in paid:
            await order_paid(session, event, at)
        return
    if not paid:
        return
    today = clock.now().astimezone(LOCAL).date()
    rules: dict[int, tuple[tuple[str, ...], RuleInForce, timedelta]] = {}
    for event, _ in paid:
        merchant = event.merchant_organisation_id
        if merchant not in rules:
            rules[merchant] = await _rules(session, merchant)
    screens = (
        await connection.execute(
            _SCREEN_BATCH,
            {
                "b_orders": [event.order_id for event, _ in paid],
                "b_merchants": [event.merchant_organisation_id for event, _ in paid],
                "b_since": [at - rules[event.merchant_organisation_id][2] for event, at in paid],
                "b_until": [at + rules[event.merchant_organisation_id][2] for event, at in paid],
                "today": today,
            },
        )
    ).all()
    for (event, at), screen in zip(paid, screens, strict=True):
        codes, history, _ = rules[event.merchant_organisation_id]
        await _flagged(session, event, at, codes, history, today, screen)

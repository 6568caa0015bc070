"""Big-data price discrimination by the buyer's history (supervision.history_pricing): within
the window, returning buyers of a SKU pay more on average than new buyers of the same SKU.

Runs on every `OrderPaid`, so the common case is one aggregate query: the lowest and highest
unit price paid for the order's SKUs within the window. Only when prices differ are the lines
read with each buyer's history (paid orders from the merchant before that order)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from linli.groupbuy.models import CampaignItem, Order, OrderLine
from linli.supervision import alert_service
from linli.supervision import rule_defaults as R
from linli.supervision.rule_service import RuleInForce, in_force

EVIDENCE_ORDERS = 10


@dataclass(frozen=True)
class PaidOrder:
    """The order an `OrderPaid` is about: who paid whom when, and where the merchant is."""

    order_id: int
    user_id: int
    organisation_id: int
    paid_at: datetime
    codes: tuple[str, ...]


@dataclass
class _Side:
    prices: list[int] = field(default_factory=list)
    buyers: set[int] = field(default_factory=set)
    orders: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(self.prices) / len(self.prices)


def _window(head: PaidOrder, rule: RuleInForce) -> tuple[datetime, datetime]:
    span = timedelta(minutes=rule.params["window_minutes"])
    return head.paid_at - span, head.paid_at + span


def _skus_of(order_id: int) -> Select[int]:
    return (
        select(CampaignItem.sku_id)
        .join(OrderLine, OrderLine.item_id == CampaignItem.id)
        .where(OrderLine.order_id == order_id)
    )


async def price_spread(
    session: AsyncSession, head: PaidOrder, since: datetime, until: datetime
) -> dict[int, tuple[int, int]]:
    """SKU -> (lowest, highest) unit price paid for it within [since, until]."""
    rows = (
        await session.execute(
            select(
                CampaignItem.sku_id,
                func.min(OrderLine.unit_price_fen),
                func.max(OrderLine.unit_price_fen),
            )
            .join(OrderLine, OrderLine.item_id == CampaignItem.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                CampaignItem.sku_id.in_(_skus_of(head.order_id)),
                Order.organisation_id == head.organisation_id,
                Order.paid_at.is_not(None),
                Order.paid_at >= since,
                Order.paid_at <= until,
            )
            .group_by(CampaignItem.sku_id)
        )
    ).all()
    return {sku: (low, high) for sku, low, high in rows}


async def history_pricing(
    session: AsyncSession, head: PaidOrder, rule: RuleInForce | None = None
) -> bool:
    """Fire per SKU of the order when, within the window, returning buyers paid on average
    more than `min_difference_pct` over what new buyers paid, with at least `min_buyers`
    residents on each side."""
    rule = rule or await in_force(session, R.HISTORY_PRICING, head.codes)
    p = rule.params
    since, until = _window(head, rule)
    spread = await price_spread(session, head, since, until)
    differing = [sku for sku, (low, high) in spread.items() if high > low]
    if not differing:
        return False
    prior = aliased(Order)
    history = (
        select(func.count(prior.id))
        .where(
            prior.user_id == Order.user_id,
            prior.organisation_id == Order.organisation_id,
            prior.paid_at.is_not(None),
            prior.paid_at < Order.paid_at,
        )
        .correlate(Order)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                CampaignItem.sku_id,
                Order.id,
                Order.user_id,
                OrderLine.unit_price_fen,
                history,
            )
            .join(OrderLine, OrderLine.item_id == CampaignItem.id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                CampaignItem.sku_id.in_(differing),
                Order.organisation_id == head.organisation_id,
                Order.paid_at.is_not(None),
                Order.paid_at >= since,
                Order.paid_at <= until,
            )
            .order_by(Order.paid_at, Order.id)
        )
    ).all()
    sides: dict[int, dict[bool, _Side]] = defaultdict(lambda: {True: _Side(), False: _Side()})
    for sku_id, order_id, user_id, price, before in rows:
        side = sides[sku_id][int(before) >= p["returning_min_orders"]]
        side.prices.append(price)
        side.buyers.add(user_id)
        side.orders.append((order_id, user_id, price, int(before)))
    fired = False
    for sku_id in sorted(sides):
        returning, new = sides[sku_id][True], sides[sku_id][False]
        if len(returning.buyers) < p["min_buyers"] or len(new.buyers) < p["min_buyers"]:
            continue
        if new.mean <= 0:
            continue
        difference = 100.0 * (returning.mean - new.mean) / new.mean
        if difference <= p["min_difference_pct"]:
            continue
        await alert_service.raise_alert(
            session,
            rule,
            head.organisation_id,
            subject=f"sku:{sku_id}",
            summary=(
                f"returning buyers paid {returning.mean:.0f} fen on average, new buyers "
                f"{new.mean:.0f} fen (+{difference:.1f} %)"
            ),
            inputs={
                "sku_id": sku_id,
                "returning_mean_fen": round(returning.mean, 2),
                "new_mean_fen": round(new.mean, 2),
                "difference_pct": round(difference, 2),
                "returning_buyers": len(returning.buyers),
                "new_buyers": len(new.buyers),
                "returning_min_orders": p["returning_min_orders"],
                "window_minutes": p["window_minutes"],
                "order_id": head.order_id,
            },
            evidence=[
                {
                    "type": "order",
                    "order_id": order_id,
                    "buyer": "returning" if side is returning else "new",
                    "previous_orders": before,
                    "unit_price_fen": price,
                }
                for side in (returning, new)
                for order_id, _user, price, before in side.orders[:EVIDENCE_ORDERS]
            ],
        )
        fired = True
    return fired

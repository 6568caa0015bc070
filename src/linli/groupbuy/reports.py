"""What a merchant sold through group buying: per product, units and revenue net of refunds.
For a foreign-trade enterprise this is its domestic sales of export products (the "export to
domestic" channel)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import GROUPBUY_READ, Actor
from linli.catalog.offers import product_of_sku
from linli.groupbuy import policies
from linli.groupbuy.models import FULFILLED, UNCOLLECTED, CampaignItem, Order, OrderLine


@dataclass(frozen=True)
class ProductSales:
    product_id: int
    product_name: str
    orders: int
    units: int  # bought, minus failed groups and units refunded after collection
    revenue_fen: int  # paid, minus every refund


@dataclass(frozen=True)
class SalesReport:
    days: int
    rows: list[ProductSales]

    @property
    def revenue_fen(self) -> int:
        return sum(row.revenue_fen for row in self.rows)

    @property
    def units(self) -> int:
        return sum(row.units for row in self.rows)


async def sales(session: AsyncSession, actor: Actor, *, days: int = 30) -> SalesReport:
    """The acting merchant's group-buying sales of orders confirmed in the last `days`."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_READ)
    since = clock.now() - timedelta(days=days)
    units = func.sum(
        case(
            (OrderLine.group_failed, 0),
            (Order.status == UNCOLLECTED, OrderLine.picked_qty - OrderLine.returned_qty),
            else_=OrderLine.quantity - OrderLine.returned_qty,
        )
    )
    product_id = product_of_sku(CampaignItem.sku_id).label("product_id")
    rows = await session.execute(
        select(
            product_id,
            CampaignItem.product_name,
            func.count(func.distinct(Order.id)),
            units,
            func.sum(OrderLine.amount_fen - OrderLine.refunded_fen),
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .where(
            Order.organisation_id == organisation_id,
            Order.status.in_(FULFILLED),
            Order.confirmed_at >= since,
        )
        .group_by(product_id, CampaignItem.product_name)
        .order_by(func.sum(OrderLine.amount_fen - OrderLine.refunded_fen).desc())
    )
    return SalesReport(
        days,
        [
            ProductSales(int(pid), name, int(orders), int(units or 0), int(revenue or 0))
            for pid, name, orders, units, revenue in rows.all()
        ],
    )

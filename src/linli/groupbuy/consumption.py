"""Group buying's face for consumption statistics: what residents paid for group-buying orders
in a period, per category of the goods, net of what was refunded of each line so far (group
failed, recall, returns, claims), with the orders that kept something of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog.offers import sku_categories
from linli.categories.spending import Period, Spending, in_scope
from linli.groupbuy.models import CampaignItem, Order, OrderLine


async def paid_by_category(
    session: AsyncSession, period: Period, organisation_ids: Select[Any] | None
) -> list[Spending]:
    """Orders paid within `period` (their `paid_at`) of the merchants `organisation_ids`
    selects (None: all), per category."""
    skus = sku_categories()
    net = OrderLine.amount_fen - OrderLine.refunded_fen
    rows = await session.execute(
        select(
            skus.c.category_id,
            func.coalesce(func.sum(net), 0),
            func.count(distinct(case((net > 0, Order.id)))),
        )
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .join(skus, skus.c.sku_id == CampaignItem.sku_id)
        .where(
            Order.paid_at.is_not(None),
            Order.paid_at >= period.start,
            Order.paid_at < period.end,
            in_scope(Order.organisation_id, organisation_ids),
        )
        .group_by(skus.c.category_id)
    )
    return [Spending(int(c), int(a), int(n)) for c, a, n in rows.all()]

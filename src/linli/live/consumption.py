"""Live selling's face for consumption statistics: what viewers paid for live orders in a
period, per category of the goods, net of what returns refunded (an order refunded in full is
no purchase; a payment arriving after its order expired is refunded and the order stays
cancelled, so it never counts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog.offers import sku_categories
from linli.categories.spending import Period, Spending, in_scope
from linli.live.models import LiveGoods, LiveOrder
from linli.live.states import LiveOrderStatus


async def paid_by_category(
    session: AsyncSession, period: Period, organisation_ids: Select[Any] | None
) -> list[Spending]:
    """Live orders paid within `period` of the merchants `organisation_ids` selects (None:
    all), per category, less what was refunded (orders refunded in full left out)."""
    skus = sku_categories()
    kept = LiveOrder.total_fen - LiveOrder.refunded_fen
    rows = await session.execute(
        select(skus.c.category_id, func.coalesce(func.sum(kept), 0), func.count())
        .select_from(LiveOrder)
        .join(LiveGoods, LiveGoods.id == LiveOrder.goods_id)
        .join(skus, skus.c.sku_id == LiveGoods.sku_id)
        .where(
            LiveOrder.status == LiveOrderStatus.PAID,
            kept > 0,
            LiveOrder.paid_at >= period.start,
            LiveOrder.paid_at < period.end,
            in_scope(LiveOrder.organisation_id, organisation_ids),
        )
        .group_by(skus.c.category_id)
    )
    return [Spending(int(c), int(a), int(n)) for c, a, n in rows.all()]

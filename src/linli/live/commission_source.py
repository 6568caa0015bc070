"""Live selling's commission as a source of the leader's monthly statement
(`community.commission_sources`): the month's accruals and reversals of `live_commissions`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.community import commission_sources
from linli.community.commission_sources import MonthFigures
from linli.live.models import LiveCommission


async def month_figures(
    session: AsyncSession, start: datetime, end: datetime
) -> dict[int, MonthFigures]:
    amount = LiveCommission.amount_fen
    rows = await session.execute(
        select(
            LiveCommission.leader_user_id,
            func.coalesce(func.sum(amount).filter(amount > 0), 0),
            func.coalesce(func.sum(amount).filter(amount < 0), 0),
            func.count(func.distinct(LiveCommission.order_id)).filter(
                LiveCommission.kind == "accrual"
            ),
        )
        .where(LiveCommission.created_at >= start, LiveCommission.created_at < end)
        .group_by(LiveCommission.leader_user_id)
    )
    return {
        int(leader): MonthFigures(int(accrued), -int(reversed_), int(orders))
        for leader, accrued, reversed_, orders in rows
    }


commission_sources.provide_source("live", month_figures)

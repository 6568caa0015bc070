"""Public facts about pickup points that other domains show (their names), by id."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.community.models import PickupPoint


async def pickup_point_names(session: AsyncSession, point_ids: Collection[int]) -> dict[int, str]:
    """Point id -> name, for the given ids that name a pickup point (closed ones included: a
    past journey still arrived there)."""
    if not point_ids:
        return {}
    rows = await session.execute(
        select(PickupPoint.id, PickupPoint.name).where(PickupPoint.id.in_(sorted(point_ids)))
    )
    return {int(point_id): name for point_id, name in rows.all()}

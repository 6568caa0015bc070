"""Trace's answers to group buying about batches (`linli.groupbuy.batches`): which are a
merchant's own, which may be sold, and the public trace codes of order lines."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from linli.groupbuy import batches
from linli.trace import codes
from linli.trace.models import TraceBatch


class TraceBatches:
    async def own_batches(
        self, session: AsyncSession, organisation_id: int, batch_ids: Collection[int]
    ) -> dict[int, batches.BatchFacts]:
        if not batch_ids:
            return {}
        rows = await session.execute(
            select(TraceBatch.id, TraceBatch.sku_id, TraceBatch.status).where(
                TraceBatch.id.in_(batch_ids), TraceBatch.organisation_id == organisation_id
            )
        )
        return {
            int(i): batches.BatchFacts(int(i), sku_id, str(status))
            for i, sku_id, status in rows.all()
        }

    async def statuses(self, session: AsyncSession, batch_ids: Collection[int]) -> dict[int, str]:
        if not batch_ids:
            return {}
        rows = await session.execute(
            select(TraceBatch.id, TraceBatch.status).where(TraceBatch.id.in_(batch_ids))
        )
        return {int(i): str(status) for i, status in rows.all()}

    def status_of(
        self, batch_id: ColumnElement[Any] | QueryableAttribute[Any]
    ) -> ScalarSelect[Any]:
        return select(TraceBatch.status).where(TraceBatch.id == batch_id).scalar_subquery()

    async def line_codes(self, session: AsyncSession, line_ids: Collection[int]) -> dict[int, str]:
        return await codes.trace_codes_for_lines(session, list(line_ids))


batches.provide(TraceBatches())

"""Durable jobs of the merchants domain."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import ReverificationDue
from linli.merchants import reverification


@outbox.job(ReverificationDue)
async def reverification_due(session: AsyncSession, job: ReverificationDue) -> None:
    await reverification.pause_if_overdue(session, job.organisation_id)

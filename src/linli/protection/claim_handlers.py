"""The quality claims' clock: the merchant's decision window."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import ClaimDecisionDue
from linli.protection import claims


@outbox.job(ClaimDecisionDue)
async def decision_due(session: AsyncSession, job: ClaimDecisionDue) -> None:
    await claims.escalate_undecided(session, job.claim_id)

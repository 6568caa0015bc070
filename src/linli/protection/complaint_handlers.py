"""Due jobs of complaints: the acceptance deadline and the mediation limit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import ComplaintAcceptanceDue, ComplaintMediationDue
from linli.protection import complaints


@outbox.job(ComplaintAcceptanceDue)
async def acceptance_due(session: AsyncSession, job: ComplaintAcceptanceDue) -> None:
    await complaints.acceptance_due(session, job.complaint_id, job.accept_by)


@outbox.job(ComplaintMediationDue)
async def mediation_due(session: AsyncSession, job: ComplaintMediationDue) -> None:
    await complaints.mediation_due(session, job.complaint_id)

"""The rectification deadline of a case, as a due job."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import RectificationDue
from linli.supervision import case_service


@outbox.job(RectificationDue)
async def rectification_due(session: AsyncSession, job: RectificationDue) -> None:
    await case_service.rectification_due(session, job.case_id, job.rectify_by)

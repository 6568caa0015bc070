"""The purge of a closed account at the end of its retention period (a due job), and the
account's own export section."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import PurgeClosedAccount
from linli.privacy import sections as sections
from linli.privacy import service


@outbox.job(PurgeClosedAccount)
async def purge_closed_account(session: AsyncSession, job: PurgeClosedAccount) -> None:
    await service.purge(session, job.user_id)

"""The returns' clocks: the merchant's answer window and the refund deadline."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import ReturnAnswerDue, ReturnRefundDue
from linli.protection import returns


@outbox.job(ReturnAnswerDue)
async def answer_due(session: AsyncSession, job: ReturnAnswerDue) -> None:
    await returns.approve_unanswered(session, job.return_id)


@outbox.job(ReturnRefundDue)
async def refund_due(session: AsyncSession, job: ReturnRefundDue) -> None:
    await returns.flag_refund_overdue(session, job.return_id)

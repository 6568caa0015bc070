"""Group buying's subscribers and due jobs: paying orders, expiring unpaid ones."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.events import PaymentSucceeded
from linli.groupbuy import checkout, commission, orders
from linli.groupbuy.cutoff import run_cutoff
from linli.groupbuy.uncollected import handle_uncollected
from linli.jobs import CampaignCutoff, CommissionStatements, ExpireOrder, UncollectedCheck
from linli.outbox import Envelope


@outbox.subscribe(PaymentSucceeded, "groupbuy.mark_paid")
async def mark_paid(session: AsyncSession, envelope: Envelope[PaymentSucceeded]) -> None:
    event = envelope.payload
    if event.purpose != checkout.PURPOSE:
        return
    await orders.mark_paid(session, event)


@outbox.batch_form(PaymentSucceeded, "groupbuy.mark_paid")
async def mark_paid_batch(
    session: AsyncSession, envelopes: list[Envelope[PaymentSucceeded]]
) -> None:
    """A batch of payments: the group-buying orders among them paid set-based."""
    mine = [e.payload for e in envelopes if e.payload.purpose == checkout.PURPOSE]
    if mine:
        await orders.mark_paid_many(session, mine)


@outbox.job(ExpireOrder)
async def expire_order(session: AsyncSession, job: ExpireOrder) -> None:
    await orders.expire_order(session, job.order_id, job.intent_id)


@outbox.job(CampaignCutoff)
async def cutoff(session: AsyncSession, job: CampaignCutoff) -> None:
    await run_cutoff(session, job.campaign_id)


@outbox.job(UncollectedCheck)
async def uncollected(session: AsyncSession, job: UncollectedCheck) -> None:
    await handle_uncollected(session, job.delivery_id)


@outbox.job(CommissionStatements)
async def commission_statements(session: AsyncSession, job: CommissionStatements) -> None:
    """Close last month's commission, then come back next month."""
    await commission.close_month(session, commission.previous_month(clock.now()))
    await ensure_statements_scheduled(session)


async def ensure_statements_scheduled(session: AsyncSession) -> None:
    await outbox.schedule(
        session,
        CommissionStatements(),
        commission.next_statement_run(clock.now()),
        dedupe_key=commission.STATEMENT_JOB,
    )

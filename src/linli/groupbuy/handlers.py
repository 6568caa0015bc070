"""Group buying's subscribers and due jobs: paying orders, expiring unpaid ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.events import PaymentSucceeded
from linli.groupbuy import commission, fulfilment, service
from linli.outbox import Envelope


@outbox.subscribe(PaymentSucceeded, "groupbuy.mark_paid")
async def mark_paid(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, PaymentSucceeded)
    if event.purpose != service.PURPOSE:
        return
    await service.mark_paid(session, event)


@outbox.job(service.EXPIRE_JOB)
async def expire_order(session: AsyncSession, payload: dict[str, Any]) -> None:
    await service.expire_order(session, int(payload["order_id"]), int(payload["intent_id"]))


@outbox.job(service.CUTOFF_JOB)
async def cutoff(session: AsyncSession, payload: dict[str, Any]) -> None:
    await fulfilment.run_cutoff(session, int(payload["campaign_id"]))


@outbox.job(fulfilment.UNCOLLECTED_JOB)
async def uncollected(session: AsyncSession, payload: dict[str, Any]) -> None:
    await fulfilment.handle_uncollected(session, int(payload["delivery_id"]))


@outbox.job(commission.STATEMENT_JOB)
async def commission_statements(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Close last month's commission, then come back next month."""
    await commission.close_month(session, commission.previous_month(clock.now()))
    await ensure_statements_scheduled(session)


async def ensure_statements_scheduled(session: AsyncSession) -> None:
    await outbox.schedule(
        session,
        commission.STATEMENT_JOB,
        commission.next_statement_run(clock.now()),
        dedupe_key=commission.STATEMENT_JOB,
    )

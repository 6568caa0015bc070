"""Live selling's subscribers and due jobs: paid orders, a room's scheduled end."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import PaymentSucceeded
from linli.jobs import ExpireLiveOrder, LiveRoomDue
from linli.live import checkout, service
from linli.outbox import Envelope


@outbox.subscribe(PaymentSucceeded, "live.mark_paid")
async def mark_paid(session: AsyncSession, envelope: Envelope[PaymentSucceeded]) -> None:
    event = envelope.payload
    if event.purpose != checkout.PURPOSE:
        return
    await checkout.mark_paid(session, event)


@outbox.job(LiveRoomDue)
async def room_due(session: AsyncSession, job: LiveRoomDue) -> None:
    await service.run_due(session, job.room_id)


@outbox.job(ExpireLiveOrder)
async def expire_order(session: AsyncSession, job: ExpireLiveOrder) -> None:
    await checkout.expire_order(session, job.order_id, job.intent_id)

"""Live selling's subscribers and due jobs: paid orders, a room's scheduled end."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import PaymentSucceeded
from linli.jobs import LiveRoomDue
from linli.live import checkout, service
from linli.outbox import Envelope


@outbox.subscribe(PaymentSucceeded, "live.mark_paid")
async def mark_paid(session: AsyncSession, envelope: Envelope[PaymentSucceeded]) -> None:
    event = envelope.payload
    if event.purpose != checkout.PURPOSE:
        return
    await checkout.mark_paid(session, int(event.reference))


@outbox.job(LiveRoomDue)
async def room_due(session: AsyncSession, job: LiveRoomDue) -> None:
    await service.run_due(session, job.room_id)

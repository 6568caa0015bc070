"""Live selling's subscribers and due jobs: paid orders, a room's scheduled end, a
recording's remux into the replay, the end of a room whose stream was lost, the daily purge of
records past their retention, a shipped order's automatic receipt, a pickup order's
collect-by time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import PaymentSucceeded
from linli.jobs import (
    AutoReceiveLiveOrder,
    ExpireLiveOrder,
    LiveOrderUncollectedCheck,
    LiveRoomDue,
    LiveStreamLost,
    PurgeLiveRecords,
    RemuxLiveRecording,
)
from linli.live import checkout, fulfilment, media, recordings, retention, service
from linli.outbox import Envelope


@outbox.subscribe(PaymentSucceeded, "live.mark_paid", batch_safe=True)
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


@outbox.job(RemuxLiveRecording)
async def remux_recording(
    session: AsyncSession, job: RemuxLiveRecording
) -> outbox.AfterCommit | None:
    return await recordings.remux(session, job)


@outbox.job(LiveStreamLost)
async def stream_lost(session: AsyncSession, job: LiveStreamLost) -> None:
    await media.end_lost_stream(session, job.room_id, job.lost_at)


@outbox.job(PurgeLiveRecords)
async def purge_records(session: AsyncSession, job: PurgeLiveRecords) -> outbox.AfterCommit:
    return await retention.run(session)


@outbox.job(AutoReceiveLiveOrder)
async def auto_receive(session: AsyncSession, job: AutoReceiveLiveOrder) -> None:
    await fulfilment.auto_receive(session, job.order_id)


@outbox.job(LiveOrderUncollectedCheck)
async def uncollected(session: AsyncSession, job: LiveOrderUncollectedCheck) -> None:
    await fulfilment.handle_uncollected(session, job.order_id)

"""The services domain's due jobs: no-shows at a slot's end, reminders an hour before."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.jobs import MarkNoShows, RemindBooking
from linli.services import booking


@outbox.job(MarkNoShows)
async def no_shows(session: AsyncSession, job: MarkNoShows) -> None:
    await booking.mark_no_shows(session, job.slot_id)


@outbox.job(RemindBooking)
async def remind(session: AsyncSession, job: RemindBooking) -> None:
    await booking.remind(session, job.booking_id)

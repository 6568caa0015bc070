"""The services domain's due jobs (no-shows at a slot's end, reminders an hour before) and
its subscriber to payments (a course paid: into escrow)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import PaymentSucceeded
from linli.jobs import ExpireEnrolment, MarkNoShows, RemindBooking
from linli.services import booking, courses


@outbox.job(MarkNoShows)
async def no_shows(session: AsyncSession, job: MarkNoShows) -> None:
    await booking.mark_no_shows(session, job.slot_id)


@outbox.job(RemindBooking)
async def remind(session: AsyncSession, job: RemindBooking) -> None:
    await booking.remind(session, job.booking_id)


@outbox.subscribe(PaymentSucceeded, "services.course_paid")
async def course_paid(session: AsyncSession, envelope: outbox.Envelope[PaymentSucceeded]) -> None:
    await courses.mark_paid(session, envelope.payload)


@outbox.job(ExpireEnrolment)
async def expire_enrolment(session: AsyncSession, job: ExpireEnrolment) -> None:
    await courses.expire(session, job.enrolment_id)

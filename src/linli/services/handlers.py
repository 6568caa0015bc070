"""The services domain's due jobs (no-shows at a slot's end, reminders an hour before, the daily
purge of medical records past their retention) and its subscriber to payments (a course paid:
into escrow)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.events import PaymentSucceeded
from linli.jobs import ExpireEnrolment, MarkNoShows, PurgeMedicalRecords, RemindBooking
from linli.services import booking, courses, medical_records

PURGE_EVERY = timedelta(days=1)


@outbox.job(MarkNoShows)
async def no_shows(session: AsyncSession, job: MarkNoShows) -> None:
    await booking.mark_no_shows(session, job.slot_id)


@outbox.job(RemindBooking)
async def remind(session: AsyncSession, job: RemindBooking) -> None:
    await booking.remind(session, job.booking_id)


@outbox.subscribe(PaymentSucceeded, "services.course_paid", batch_safe=True)
async def course_paid(session: AsyncSession, envelope: outbox.Envelope[PaymentSucceeded]) -> None:
    await courses.mark_paid(session, envelope.payload)


@outbox.job(ExpireEnrolment)
async def expire_enrolment(session: AsyncSession, job: ExpireEnrolment) -> None:
    await courses.expire(session, job.enrolment_id)


@outbox.job(PurgeMedicalRecords)
async def purge_medical_records(session: AsyncSession, job: PurgeMedicalRecords) -> None:
    await medical_records.purge_expired(session)
    await ensure_purge_scheduled(session)


async def ensure_purge_scheduled(session: AsyncSession) -> None:
    """The next daily purge (one pending at a time: its dedupe key)."""
    await outbox.schedule(
        session,
        PurgeMedicalRecords(),
        clock.now() + PURGE_EVERY,
        dedupe_key=PurgeMedicalRecords.job_kind,
    )

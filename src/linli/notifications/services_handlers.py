"""Inbox messages about online-service bookings (linli.services): booked, a course's
enrolment paid (its classes are not announced one by one), refunded, expired or withdrawn by
the school (once), cancelled, the reminder an hour before, a no-show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.events import (
    BookingCancelled,
    BookingNoShow,
    EnrolmentClosed,
    EnrolmentPaid,
    SessionBooked,
    SessionReminder,
)
from linli.i18n import N_
from linli.money import format_fen
from linli.notifications.service import notify

BOOKINGS = "/services/bookings"
COURSES = "/services/courses"


def _local(moment: datetime) -> str:
    return moment.astimezone(clock.LOCAL).strftime("%Y-%m-%d %H:%M")


@outbox.subscribe(SessionBooked, "notifications.service_booked")
async def booked(session: AsyncSession, envelope: outbox.Envelope[SessionBooked]) -> None:
    event = envelope.payload
    notify(
        session,
        event.client_user_id,
        "service_booked",
        title=N_("Session booked"),
        body=N_('You booked "{title}" at {when}.'),
        params={"title": event.title, "when": _local(event.starts_at)},
        link=BOOKINGS,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(EnrolmentPaid, "notifications.course_enrolled")
async def enrolled(session: AsyncSession, envelope: outbox.Envelope[EnrolmentPaid]) -> None:
    event = envelope.payload
    notify(
        session,
        event.client_user_id,
        "course_enrolled",
        title=N_("Course paid"),
        body=N_(
            'You are enrolled in "{title}": {classes} classes from {when}. Your fee is held in '
            "the school's supervised account and paid to it one class at a time."
        ),
        params={
            "title": event.title,
            "classes": event.classes,
            "when": _local(event.first_class_at),
        },
        link=COURSES,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(EnrolmentClosed, "notifications.course_closed")
async def course_closed(session: AsyncSession, envelope: outbox.Envelope[EnrolmentClosed]) -> None:
    event = envelope.payload
    outcome = event.outcome
    if outcome == "withdrawn" and event.amount_fen == 0:
        outcome = "withdrawn_unpaid"
    body, title = {
        "withdrawn_unpaid": (
            N_('The school withdrew "{title}": its classes to come are cancelled.'),
            N_("Course withdrawn"),
        ),
        "refunded": (
            N_('{classes} classes of "{title}" not given were refunded: {amount}.'),
            N_("Course refunded"),
        ),
        "withdrawn": (
            N_(
                'The school withdrew "{title}": its classes to come are cancelled and the '
                "{classes} classes not given refunded: {amount}."
            ),
            N_("Course withdrawn"),
        ),
    }.get(
        outcome,
        (
            N_('Your enrolment in "{title}" was not paid in time: its places went back.'),
            N_("Enrolment expired"),
        ),
    )
    notify(
        session,
        event.client_user_id,
        "course_closed",
        title=title,
        body=body,
        params={
            "title": event.title,
            "classes": event.classes,
            "amount": format_fen(event.amount_fen),
        },
        link=COURSES,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(BookingCancelled, "notifications.service_cancelled")
async def cancelled(session: AsyncSession, envelope: outbox.Envelope[BookingCancelled]) -> None:
    event = envelope.payload
    if event.enrolment_id is not None and (
        event.cancelled_by != "provider" or event.course_withdrawn
    ):
        return  # the course's refund, expiry or withdrawal is told once (course_closed)
    body = {
        "provider": N_('The provider cancelled your booking of "{title}" at {when}.'),
        "system": N_('Your booking of "{title}" at {when} was cancelled: not paid in time.'),
    }.get(event.cancelled_by, N_('You cancelled your booking of "{title}" at {when}.'))
    notify(
        session,
        event.client_user_id,
        "service_cancelled",
        title=N_("Booking cancelled"),
        body=body,
        params={"title": event.title, "when": _local(event.starts_at)},
        link=BOOKINGS,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(SessionReminder, "notifications.service_reminder")
async def reminder(session: AsyncSession, envelope: outbox.Envelope[SessionReminder]) -> None:
    event = envelope.payload
    notify(
        session,
        event.client_user_id,
        "service_reminder",
        title=N_("Your session starts soon"),
        body=N_('"{title}" starts at {when}.'),
        params={"title": event.title, "when": _local(event.starts_at)},
        link=BOOKINGS,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(BookingNoShow, "notifications.service_no_show")
async def no_show(session: AsyncSession, envelope: outbox.Envelope[BookingNoShow]) -> None:
    notify(
        session,
        envelope.payload.client_user_id,
        "service_no_show",
        title=N_("Missed session"),
        body=N_("You did not attend a session you booked; it is recorded as a no-show."),
        link=BOOKINGS,
        source_event_id=envelope.event_id,
    )

"""What a school sees of its courses: per course, the enrolments paid, the classes given and
released from escrow, those refunded, and the fee still held in escrow; per enrolment, the
pupil and what happened to each of their classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import User
from linli.authz import SERVICES_READ, Actor
from linli.errors import NotFound
from linli.i18n import N_
from linli.payments import ledger
from linli.services.models import Booking, Course, Enrolment
from linli.services.policies import acting_provider
from linli.services.states import BookingStatus, EnrolmentStatus


@dataclass(frozen=True)
class CourseAccount:
    course: Course
    paid_enrolments: int
    released_classes: int
    refunded_classes: int
    held_fen: int  # paid for classes neither given nor refunded: in escrow


@dataclass(frozen=True)
class PupilAccount:
    enrolment: Enrolment
    pupil: str
    attended: int  # classes given with the pupil there (completed)
    no_shows: int
    to_come: int  # booked, not yet given


async def school_courses(session: AsyncSession, actor: Actor) -> list[CourseAccount]:
    """The acting school's courses, newest first, with their enrolments' figures."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    paid = Enrolment.status == EnrolmentStatus.PAID
    open_classes = Enrolment.classes - Enrolment.released_classes - Enrolment.refunded_classes
    figures = (
        select(
            Enrolment.course_id,
            func.count().filter(paid).label("paid"),
            func.coalesce(func.sum(case((paid, Enrolment.released_classes), else_=0)), 0),
            func.coalesce(func.sum(case((paid, Enrolment.refunded_classes), else_=0)), 0),
            func.coalesce(
                func.sum(case((paid, open_classes * Enrolment.price_per_class_fen), else_=0)), 0
            ),
        )
        .where(Enrolment.organisation_id == organisation_id)
        .group_by(Enrolment.course_id)
    )
    by_course = {row[0]: row[1:] for row in (await session.execute(figures)).all()}
    courses = (
        await session.scalars(
            select(Course)
            .where(Course.organisation_id == organisation_id)
            .order_by(Course.first_day.desc(), Course.id.desc())
            .limit(200)
        )
    ).all()
    return [
        CourseAccount(course, *(int(n) for n in by_course.get(course.id, (0, 0, 0, 0))))
        for course in courses
    ]


async def escrow_balance(session: AsyncSession, actor: Actor) -> int:
    """What the school's supervised escrow account holds for its pupils (fen)."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    return -await ledger.balance(session, ledger.training_escrow(organisation_id))


async def school_course(
    session: AsyncSession, actor: Actor, course_id: int
) -> tuple[Course, Sequence[PupilAccount]]:
    """One of the acting school's courses and its enrolments (404 for anyone else's)."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    course = await session.scalar(
        select(Course).where(Course.id == course_id, Course.organisation_id == organisation_id)
    )
    if course is None:
        raise NotFound(N_("No such course."))

    classes = (
        select(
            Booking.enrolment_id,
            func.count().filter(Booking.status == BookingStatus.COMPLETED),
            func.count().filter(Booking.status == BookingStatus.NO_SHOW),
            func.count().filter(
                Booking.status.in_((BookingStatus.SCHEDULED, BookingStatus.CHECKED_IN))
            ),
        )
        .join(Enrolment, Enrolment.id == Booking.enrolment_id)
        .where(Enrolment.course_id == course.id)
        .group_by(Booking.enrolment_id)
    )
    by_enrolment = {row[0]: row[1:] for row in (await session.execute(classes)).all()}
    rows = (
        await session.execute(
            select(Enrolment, User.display_name)
            .join(User, User.id == Enrolment.client_user_id)
            .where(Enrolment.course_id == course.id)
            .order_by(Enrolment.id)
        )
    ).all()
    return course, [
        PupilAccount(enrolment, name, *(int(n) for n in by_enrolment.get(enrolment.id, (0, 0, 0))))
        for enrolment, name in rows
    ]

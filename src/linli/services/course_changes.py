"""The school edits a course while enrolment is open, and withdraws it.

- **Edit**: title, description, and the places of each class to come (never below the seats
  taken in any of them: schedule_changes.resize_slots, a conditional UPDATE per slot).
- **Withdraw** (once: a conditional UPDATE of the course from `open` to `closed`, which an
  enrolment racing it also takes, so the withdrawal sees every enrolment committed): no new
  enrolments; each paid enrolment has its classes to come cancelled by the provider with the
  reason and every class neither released, nor in progress, nor refunded before refunded pro
  rata through the refund path of courses.refund_classes (escrow -> clearing -> the payer); an
  unpaid one is closed (its payment cancelled; a payment arriving later is refunded in full);
  each pupil told once (EnrolmentClosed, outcome `withdrawn`); the course's slots to come left
  without bookings are closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import SERVICES_MANAGE, Actor, Permission
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.i18n import N_
from linli.payments import service as payments
from linli.rules.workdays import local_date
from linli.services import booking, courses
from linli.services.models import Booking, Course, Enrolment, Slot
from linli.services.policies import acting_provider
from linli.services.schedule_changes import resize_slots
from linli.services.schemas import CourseChangeIn
from linli.services.states import BookingStatus, CancelledBy, CourseStatus, EnrolmentStatus


@dataclass(frozen=True)
class Withdrawn:
    course: Course
    refunded_enrolments: int
    refunded_classes: int
    refunded_fen: int
    closed_enrolments: int


async def access_course(
    session: AsyncSession, actor: Actor, course_id: int, permission: Permission
) -> Course:
    """One of the acting school's courses (404 for another organisation's)."""
    organisation_id = acting_provider(actor, permission)
    course = await session.scalar(
        select(Course).where(Course.id == course_id, Course.organisation_id == organisation_id)
    )
    if course is None:
        raise NotFound(N_("No such course."))
    return course


async def _classes_to_come(session: AsyncSession, course: Course) -> list[int]:
    query = courses._class_slots(course.weekly_slot_id, course.first_day, course.last_day)
    return [s.id for s in (await session.scalars(query)).all() if s.starts_at > clock.now()]


async def edit_course(
    session: AsyncSession, actor: Actor, course_id: int, data: CourseChangeIn
) -> Course:
    """Change a course's title, description or places while enrolment is open."""
    course = await access_course(session, actor, course_id, SERVICES_MANAGE)
    if course.status != CourseStatus.OPEN or course.last_day < local_date(clock.now()):
        raise Conflict(N_("Enrolment in this course is closed."), code="enrolment_closed")
    given = data.model_dump(exclude_unset=True, exclude_none=True)
    if not given:
        raise ValidationFailed(N_("Nothing to change."), fields={"title": N_("Change something.")})
    before: dict[str, object] = {"title": course.title, "description": course.description}
    if data.capacity is not None:
        slots = await _classes_to_come(session, course)
        if not slots:
            raise Conflict(N_("This course has no classes left to come."), code="no_classes")
        before["capacity"] = await session.scalar(select(Slot.capacity).where(Slot.id == slots[0]))
        await resize_slots(session, slots, data.capacity)
    if data.title is not None:
        course.title = data.title
    if data.description is not None:
        course.description = data.description
    await session.flush()
    audit.record(
        session,
        actor,
        "services.course.edited",
        target_type="services_course",
        target_id=course.id,
        before={k: before[k] for k in given},
        after=given,
    )
    return course


async def withdraw_course(
    session: AsyncSession, actor: Actor, course_id: int, reason: str
) -> Withdrawn:
    """Withdraw a course (see the module's docstring)."""
    course = await access_course(session, actor, course_id, SERVICES_MANAGE)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(
            N_("Tell the pupils why."), fields={"reason": N_("A reason is required.")}
        )
    now = clock.now()
    closed = await session.scalar(
        update(Course)
        .where(Course.id == course.id, Course.status == CourseStatus.OPEN)
        .values(status=CourseStatus.CLOSED, withdrawn_at=now, withdraw_reason=reason)
        .returning(Course.id)
        .execution_options(synchronize_session=False)
    )
    if closed is None:
        raise Conflict(N_("This course is closed already."), code="already_closed")
    await session.refresh(course)
    enrolments = (
        await session.scalars(
            select(Enrolment)
            .where(Enrolment.course_id == course.id, Enrolment.status != EnrolmentStatus.EXPIRED)
            .order_by(Enrolment.id)
        )
    ).all()
    refunded = classes = fen = unpaid = 0
    for enrolment in enrolments:
        if enrolment.status == EnrolmentStatus.PAID and enrolment.intent_id is not None:
            count, amount = await courses.refund_classes(
                session, actor, enrolment, withdrawn_reason=reason
            )
            refunded += count > 0
            classes += count
            fen += amount
        elif await _close_unpaid(session, actor, enrolment, reason):
            unpaid += 1
    await session.execute(
        update(Slot)
        .where(
            Slot.id.in_(await _classes_to_come(session, course)),
            Slot.remaining == Slot.capacity,
        )
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor,
        "services.course.withdrawn",
        target_type="services_course",
        target_id=course.id,
        reason=reason,
        refunded_enrolments=refunded,
        refunded_classes=classes,
        refunded_fen=fen,
        closed_enrolments=unpaid,
    )
    return Withdrawn(course, refunded, classes, fen, unpaid)


async def _close_unpaid(
    session: AsyncSession, actor: Actor, enrolment: Enrolment, reason: str
) -> bool:
    """An enrolment not paid yet: its payment cancelled, its seats back, closed as expired (a
    payment arriving after is refunded in full by courses.mark_paid)."""
    system = Actor.for_system()
    for intent in await payments.intents_for(session, system, courses.PURPOSE, str(enrolment.id)):
        if intent.status == "created":
            await payments.cancel_intent(session, system, intent.id)
    moved = await session.scalar(
        update(Enrolment)
        .where(Enrolment.id == enrolment.id, Enrolment.status == EnrolmentStatus.PENDING_PAYMENT)
        .values(status=EnrolmentStatus.EXPIRED)
        .returning(Enrolment.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    for row in (
        await session.scalars(
            select(Booking).where(
                Booking.enrolment_id == enrolment.id, Booking.status == BookingStatus.SCHEDULED
            )
        )
    ).all():
        await booking.cancel(
            session, actor, row, CancelledBy.PROVIDER, reason, course_withdrawn=True
        )
    await courses._publish_closed(session, enrolment, "withdrawn", 0, 0)
    audit.record(
        session,
        actor,
        "services.enrolment.closed",
        target_type="services_enrolment",
        target_id=enrolment.id,
        organisation_id=enrolment.organisation_id,
        reason="course withdrawn",
    )
    return True

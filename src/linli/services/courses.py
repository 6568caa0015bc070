"""Online education: courses (the classes of one weekly session between two days) sold in one
collection that keeps rule `services.training_prepaid` (at most N months and N class hours;
non-subject training at most N fen), paid into the school's supervised escrow account
(`escrow:training:{org}` in the ledger), released one class at a time when the class is
delivered (the client checked in and the provider completed it), never before; the classes
not delivered are refunded pro rata at any time.

Money moves: payment -> `clearing:orders` (payments) -> escrow (`services_escrow_in`, on
PaymentSucceeded) -> `merchant:{org}:payable` per delivered class (`services_class_release`);
a refund moves the unconsumed part back to clearing (`services_escrow_refund`) and payments
refunds it to the payer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import SERVICES_MANAGE, Actor
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import EnrolmentClosed, EnrolmentPaid, PaymentSucceeded
from linli.i18n import N_
from linli.jobs import ExpireEnrolment
from linli.merchants.queries import selling_organisation_ids
from linli.payments import ledger
from linli.payments import service as payments
from linli.payments.reasons import RefundReason
from linli.payments.views import IntentView
from linli.rules.workdays import local_date
from linli.services import booking, catalogue, prepaid, room
from linli.services.models import Booking, ClassRelease, Course, Enrolment, Slot, WeeklySlot
from linli.services.policies import access_provider_booking, acting_provider, ensure_verified
from linli.services.practitioners import local_moment
from linli.services.schemas import CourseIn
from linli.services.states import BookingStatus, CancelledBy, EnrolmentStatus, Mode, SlotKind

PURPOSE = "services_course"
PAYMENT_WINDOW = timedelta(minutes=30)  # an enrolment holds its seats this long unpaid
payments.register_refund_route(PURPOSE, "POST /api/v1/services/enrolments/{reference}/refund")
payments.forbid_credit(PURPOSE)  # no training loans


@dataclass(frozen=True)
class Enrolled:
    enrolment: Enrolment
    intent: IntentView


async def check_prepaid(
    session: AsyncSession,
    organisation_id: int,
    *,
    first: date,
    last: date,
    classes: int,
    class_minutes: int,
    amount_fen: int,
    subject_training: bool,
) -> int:
    """Refuse a collection the prepaid rule in force for the school's region forbids; returns
    the rule's version."""
    rule = await prepaid.rule_in_force(session, organisation_id)
    limits = prepaid.Limits.of(rule)
    found = prepaid.breaches(
        limits,
        prepaid.Collection(first, last, classes, class_minutes, amount_fen, subject_training),
    )
    if prepaid.Breach.TOO_LONG in found:
        raise ValidationFailed(
            N_("One collection may cover at most {months} months of classes."),
            fields={"last_day": N_("Beyond the prepaid limit.")},
            code=prepaid.Breach.TOO_LONG,
            months=limits.max_months,
        )
    if prepaid.Breach.TOO_MANY_HOURS in found:
        raise ValidationFailed(
            N_("One collection may cover at most {hours} class hours."),
            fields={"last_day": N_("Beyond the prepaid limit.")},
            code=prepaid.Breach.TOO_MANY_HOURS,
            hours=limits.max_class_hours,
        )
    if prepaid.Breach.OVER_AMOUNT in found:
        raise ValidationFailed(
            N_("One collection for non-subject training may be at most ¥{yuan}."),
            fields={"price_per_class_fen": N_("Beyond the prepaid limit.")},
            code=prepaid.Breach.OVER_AMOUNT,
            yuan=f"{limits.max_fen_non_subject // 100:,}",
        )
    return rule.version


def _class_slots(weekly_slot_id: int, first: date, last: date):  # type: ignore[no-untyped-def]
    """The open slots of a weekly session from `first` to `last` (local days)."""
    return (
        select(Slot)
        .where(
            Slot.weekly_slot_id == weekly_slot_id,
            Slot.status == "open",
            Slot.starts_at >= local_moment(first, 0),
            Slot.starts_at < local_moment(last + timedelta(days=1), 0),
        )
        .order_by(Slot.starts_at)
    )


async def create_course(session: AsyncSession, actor: Actor, data: CourseIn) -> Course:
    """The school offers the classes of a weekly class session between two days (their
    slots made already) as one course, checked against the prepaid rule."""
    organisation_id = acting_provider(actor, SERVICES_MANAGE)
    await ensure_verified(session, organisation_id)
    week = await session.scalar(
        select(WeeklySlot).where(
            WeeklySlot.id == data.weekly_slot_id, WeeklySlot.organisation_id == organisation_id
        )
    )
    if week is None:
        raise NotFound(N_("No such weekly session."))
    if week.withdrawn_at is not None:
        raise Conflict(N_("This weekly session was withdrawn."), code="withdrawn")
    if week.kind != SlotKind.CLASS:
        raise ValidationFailed(
            N_("A course is made of classes, not consultations."),
            fields={"weekly_slot_id": N_("Not a class.")},
        )
    if data.last_day < data.first_day:
        raise ValidationFailed(
            N_("The last day is before the first."),
            fields={"last_day": N_("Before the first day.")},
        )
    category, subject = await catalogue.course_category(
        session,
        data.category,
        data.subject_training if "subject_training" in data.model_fields_set else None,
    )
    slots = (await session.scalars(_class_slots(week.id, data.first_day, data.last_day))).all()
    slots = [s for s in slots if s.starts_at > clock.now()]
    if not slots:
        raise Conflict(
            N_("No classes of this session between those days: make its slots first."),
            code="no_classes",
        )
    version = await check_prepaid(
        session,
        organisation_id,
        first=local_date(slots[0].starts_at),
        last=local_date(slots[-1].starts_at),
        classes=len(slots),
        class_minutes=week.duration_minutes,
        amount_fen=len(slots) * data.price_per_class_fen,
        subject_training=subject,
    )
    course = Course(
        organisation_id=organisation_id,
        practitioner_id=week.practitioner_id,
        weekly_slot_id=week.id,
        title=data.title,
        category_id=category.id,
        subject_training=subject,
        first_day=data.first_day,
        last_day=data.last_day,
        classes=len(slots),
        class_minutes=week.duration_minutes,
        price_per_class_fen=data.price_per_class_fen,
        rule_version=version,
        status="open",
        created_at=clock.now(),
    )
    session.add(course)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.course.created",
        target_type="services_course",
        target_id=course.id,
        classes=course.classes,
        price_per_class_fen=course.price_per_class_fen,
        rule=f"{prepaid.PREPAID_RULE}@{version}",
        category=category.code,
    )
    return course


async def open_courses(
    session: AsyncSession, *, category_ids: set[int] | None = None
) -> Sequence[Course]:
    """Courses open for enrolment (of the categories `category_ids`, when given)."""
    query = select(Course).where(
        Course.status == "open",
        Course.last_day >= local_date(clock.now()),
        Course.organisation_id.in_(selling_organisation_ids()),
    )
    if category_ids is not None:
        query = query.where(Course.category_id.in_(category_ids))
    return (await session.scalars(query.order_by(Course.first_day, Course.id).limit(100))).all()


async def enrol(session: AsyncSession, actor: Actor, course_id: int) -> Enrolled:
    """The client takes a seat in every class of the course still to come (each booked as
    any slot is: no seat beyond capacity, no overlap) and gets one payment to make for them
    all, checked against the prepaid rule in force."""
    user_id = actor.require_user_id()
    course = await session.get(Course, course_id)
    if course is None or course.status != "open":
        raise NotFound(N_("No such course."))
    # Hold the course open until this enrolment commits: a withdrawal racing it either waits
    # and then refunds it too, or went first and this one is refused (course_changes.py).
    if (
        await session.scalar(
            update(Course)
            .where(Course.id == course.id, Course.status == "open")
            .values(status="open")
            .returning(Course.id)
            .execution_options(synchronize_session=False)
        )
        is None
    ):
        raise NotFound(N_("No such course."))
    already = await session.scalar(
        select(Enrolment.id).where(
            Enrolment.course_id == course.id,
            Enrolment.client_user_id == user_id,
            Enrolment.status != EnrolmentStatus.EXPIRED,
        )
    )
    if already is not None:
        raise Conflict(N_("You are already enrolled in this course."), code="already_enrolled")
    now = clock.now()
    slots = [
        s
        for s in (
            await session.scalars(
                _class_slots(course.weekly_slot_id, course.first_day, course.last_day)
            )
        ).all()
        if s.starts_at > now
    ]
    if not slots:
        raise Conflict(N_("This course has no classes left to book."), code="no_classes")
    amount = len(slots) * course.price_per_class_fen
    await check_prepaid(
        session,
        course.organisation_id,
        first=local_date(slots[0].starts_at),
        last=local_date(slots[-1].starts_at),
        classes=len(slots),
        class_minutes=course.class_minutes,
        amount_fen=amount,
        subject_training=course.subject_training,
    )
    enrolment = Enrolment(
        course_id=course.id,
        organisation_id=course.organisation_id,
        client_user_id=user_id,
        classes=len(slots),
        price_per_class_fen=course.price_per_class_fen,
        amount_fen=amount,
        status=EnrolmentStatus.PENDING_PAYMENT,
        released_classes=0,
        refunded_classes=0,
        created_at=now,
    )
    session.add(enrolment)
    await session.flush()
    for slot in slots:
        await booking.book(session, actor, slot.id, enrolment_id=enrolment.id)
    intent = await payments.create_intent(
        session,
        actor,
        payee_organisation_id=course.organisation_id,
        purpose=PURPOSE,
        reference=str(enrolment.id),
        amount_fen=amount,
        idempotency_key=f"services-enrolment-{enrolment.id}",
        expires_in=PAYMENT_WINDOW,
    )
    enrolment.intent_id = intent.id
    await outbox.schedule(
        session,
        ExpireEnrolment(enrolment_id=enrolment.id),
        now + PAYMENT_WINDOW + timedelta(minutes=1),
        dedupe_key=f"services.expire_enrolment:{enrolment.id}",
    )
    audit.record(
        session,
        actor,
        "services.enrolment.created",
        target_type="services_enrolment",
        target_id=enrolment.id,
        organisation_id=course.organisation_id,
        classes=len(slots),
        amount_fen=amount,
    )
    return Enrolled(enrolment, intent)


async def mark_paid(session: AsyncSession, event: PaymentSucceeded) -> None:
    """PaymentSucceeded of a course: the enrolment is paid and the money goes into the
    school's escrow account (once: a conditional UPDATE, and the entry's unique reference)."""
    if event.purpose != PURPOSE or not event.reference.isdigit():
        return
    enrolment = await session.get(Enrolment, int(event.reference))
    if (
        enrolment is None
        or enrolment.amount_fen != event.amount_fen
        or enrolment.client_user_id != event.payer_user_id
    ):
        return
    moved = await session.scalar(
        update(Enrolment)
        .where(Enrolment.id == enrolment.id, Enrolment.status == EnrolmentStatus.PENDING_PAYMENT)
        .values(status=EnrolmentStatus.PAID, paid_at=clock.now())
        .returning(Enrolment.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        if enrolment.status == EnrolmentStatus.EXPIRED:  # paid after its seats went back
            await payments.refund(
                session,
                Actor.for_system(),
                event.intent_id,
                event.amount_fen,
                "course enrolment expired before payment",
                reason_code=RefundReason.PAYMENT_EXPIRED,
                idempotency_key=f"services-enrolment-{enrolment.id}-late",
            )
        return
    await _publish_paid(session, enrolment)
    await ledger.post(
        session,
        "services_escrow_in",
        f"enrolment-{enrolment.id}",
        [
            (ledger.CLEARING, event.amount_fen),
            (ledger.training_escrow(enrolment.organisation_id), -event.amount_fen),
        ],
    )
    audit.record(
        session,
        Actor.for_system(),
        "services.enrolment.paid",
        target_type="services_enrolment",
        target_id=enrolment.id,
        organisation_id=enrolment.organisation_id,
        escrow_fen=event.amount_fen,
    )


async def _publish_paid(session: AsyncSession, enrolment: Enrolment) -> None:
    """One collection of prepaid fees made: what it covers, for supervision to check against
    the limits in force now (a limit may have tightened since the enrolment was made)."""
    course = await session.get(Course, enrolment.course_id)
    assert course is not None
    first, last = (
        await session.execute(
            select(func.min(Booking.starts_at), func.max(Booking.starts_at)).where(
                Booking.enrolment_id == enrolment.id
            )
        )
    ).one()
    if first is None or last is None:  # an enrolment always books its classes
        return
    outbox.publish(
        session,
        EnrolmentPaid(
            enrolment_id=enrolment.id,
            course_id=course.id,
            title=course.title,
            organisation_id=enrolment.organisation_id,
            client_user_id=enrolment.client_user_id,
            amount_fen=enrolment.amount_fen,
            classes=enrolment.classes,
            class_minutes=course.class_minutes,
            subject_training=course.subject_training,
            first_class_at=first,
            last_class_at=last,
            paid_at=clock.now(),
        ),
    )


async def _paid_enrolment(session: AsyncSession, row: Booking) -> Enrolment | None:
    if row.enrolment_id is None:
        return None
    enrolment = await session.get(Enrolment, row.enrolment_id)
    if enrolment is None or enrolment.status != EnrolmentStatus.PAID:
        raise Conflict(N_("This class belongs to a course that is not paid yet."), code="not_paid")
    return enrolment


async def check_in(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    """Check-in, refused for a class of an unpaid course."""
    row = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    await _paid_enrolment(session, row)
    return await booking.check_in(session, actor, booking_id)


async def complete(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    """Completion; for a class of a course, its fee leaves escrow for the school. An online
    class is delivered only to a client who attended it (rule services.online_attendance,
    from the room's join and leave times, the practitioner in the room too): else 409 and
    nothing moves (the provider may mark the client a no-show instead)."""
    row = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    attended: room.Attendance | None = None
    if (
        row.enrolment_id is not None
        and row.mode == Mode.ONLINE
        and row.status == BookingStatus.CHECKED_IN
        and clock.now() >= row.starts_at
    ):
        attended = await room.ensure_delivered_online(session, row)
    row = await booking.complete(session, actor, booking_id)
    enrolment = await _paid_enrolment(session, row)
    if enrolment is not None:
        await _release(session, actor, enrolment, row, attended)
    return row


async def _release(
    session: AsyncSession,
    actor: Actor,
    enrolment: Enrolment,
    row: Booking,
    attended: room.Attendance | None,
) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    released = await session.scalar(
        insert(ClassRelease)
        .values(
            enrolment_id=enrolment.id,
            booking_id=row.id,
            amount_fen=enrolment.price_per_class_fen,
            released_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=[ClassRelease.booking_id])
        .returning(ClassRelease.id)
    )
    if released is None:
        return
    counted = await session.scalar(
        update(Enrolment)
        .where(
            Enrolment.id == enrolment.id,
            Enrolment.released_classes + Enrolment.refunded_classes < Enrolment.classes,
        )
        .values(released_classes=Enrolment.released_classes + 1)
        .returning(Enrolment.id)
        .execution_options(synchronize_session=False)
    )
    if counted is None:
        raise Conflict(N_("Every class of this enrolment is settled already."), code="settled")
    await ledger.post(
        session,
        "services_class_release",
        f"booking-{row.id}",
        [
            (ledger.training_escrow(enrolment.organisation_id), enrolment.price_per_class_fen),
            (ledger.merchant_payable(enrolment.organisation_id), -enrolment.price_per_class_fen),
        ],
    )
    audit.record(
        session,
        actor,
        "services.class.released",
        target_type="services_enrolment",
        target_id=enrolment.id,
        booking=row.id,
        amount_fen=enrolment.price_per_class_fen,
        **_attendance_details(attended),
    )


def _attendance_details(attended: room.Attendance | None) -> dict[str, Any]:
    """What an online class's release is audited with: the attendance it was judged by."""
    if attended is None:
        return {}
    return {
        "attended_seconds": attended.client_seconds,
        "practitioner_seconds": attended.practitioner_seconds,
        "rule": f"{room.ATTENDANCE_RULE}@{attended.rule_version}",
    }


async def my_enrolments(session: AsyncSession, actor: Actor) -> Sequence[Enrolment]:
    return (
        await session.scalars(
            select(Enrolment)
            .where(Enrolment.client_user_id == actor.require_user_id())
            .order_by(Enrolment.id.desc())
        )
    ).all()


async def refund_unconsumed(session: AsyncSession, actor: Actor, enrolment_id: int) -> Enrolment:
    """The client gives up the classes not delivered, at any time: the ones to come are
    cancelled (seats back), and every class neither delivered nor in progress nor refunded
    before is refunded at the course's price per class, from escrow through payments."""
    enrolment = await session.scalar(
        select(Enrolment).where(
            Enrolment.id == enrolment_id, Enrolment.client_user_id == actor.require_user_id()
        )
    )
    if enrolment is None:
        raise NotFound(N_("No such enrolment."))
    if enrolment.status != EnrolmentStatus.PAID or enrolment.intent_id is None:
        raise Conflict(N_("This course is not paid: nothing to refund."), code="not_paid")
    await refund_classes(session, actor, enrolment)
    await session.refresh(enrolment)
    return enrolment


async def refund_classes(
    session: AsyncSession,
    actor: Actor,
    enrolment: Enrolment,
    *,
    withdrawn_reason: str | None = None,
) -> tuple[int, int]:
    """Refund a paid enrolment's classes not delivered (see refund_unconsumed); returns the
    classes and fen refunded. `withdrawn_reason`: the school withdrew the course
    (course_changes.py): its classes are cancelled by the provider with the reason, the pupil
    told once (outcome `withdrawn`), and nothing left to refund is no error."""
    assert enrolment.intent_id is not None
    by = CancelledBy.CLIENT if withdrawn_reason is None else CancelledBy.PROVIDER
    for row in (
        await session.scalars(
            select(Booking)
            .where(
                Booking.enrolment_id == enrolment.id,
                Booking.status == BookingStatus.SCHEDULED,
                Booking.starts_at > clock.now(),
            )
            .order_by(Booking.starts_at, Booking.id)  # one order: two refunds never deadlock
        )
    ).all():
        try:
            await booking.cancel(
                session,
                actor,
                row,
                by,
                withdrawn_reason or "course refund",
                course_withdrawn=withdrawn_reason is not None,
            )
        except Conflict:
            if withdrawn_reason is None:
                raise
            # the withdrawal finds the class cancelled meanwhile (the pupil's own refund)
    await session.refresh(enrolment)  # what a refund committed meanwhile counted
    in_progress = int(
        await session.scalar(
            select(func.count()).where(
                Booking.enrolment_id == enrolment.id,
                Booking.status.in_((BookingStatus.CHECKED_IN, BookingStatus.SCHEDULED)),
            )
        )
        or 0
    )
    before = enrolment.refunded_classes
    count = enrolment.classes - enrolment.released_classes - before - in_progress
    if count <= 0 and withdrawn_reason is not None:
        await _publish_closed(session, enrolment, "withdrawn", 0, 0)
        return 0, 0
    if count <= 0:
        raise Conflict(N_("No classes are left to refund."), code="nothing_to_refund")
    counted = await session.scalar(
        update(Enrolment)
        .where(
            Enrolment.id == enrolment.id,
            Enrolment.refunded_classes == before,
            Enrolment.released_classes + Enrolment.refunded_classes + count <= Enrolment.classes,
        )
        .values(refunded_classes=Enrolment.refunded_classes + count)
        .returning(Enrolment.id)
        .execution_options(synchronize_session=False)
    )
    if counted is None:
        raise Conflict(N_("The enrolment changed meanwhile: try again."), code="changed")
    amount = count * enrolment.price_per_class_fen
    reference = f"enrolment-{enrolment.id}-refund-{before}"
    await ledger.post(
        session,
        "services_escrow_refund",
        reference,
        [
            (ledger.training_escrow(enrolment.organisation_id), amount),
            (ledger.CLEARING, -amount),
        ],
    )
    await payments.refund(
        session,
        Actor.for_system(),
        enrolment.intent_id,
        amount,
        f"{count} unconsumed classes",
        reason_code=RefundReason.UNCONSUMED_CLASSES,
        idempotency_key=f"services-{reference}",
    )
    outcome = "refunded" if withdrawn_reason is None else "withdrawn"
    await _publish_closed(session, enrolment, outcome, count, amount)
    audit.record(
        session,
        actor,
        "services.enrolment.refunded",
        target_type="services_enrolment",
        target_id=enrolment.id,
        organisation_id=enrolment.organisation_id,
        classes=count,
        amount_fen=amount,
        by=str(by),
    )
    return count, amount


async def _publish_closed(
    session: AsyncSession, enrolment: Enrolment, outcome: str, classes: int, amount_fen: int
) -> None:
    title = await session.scalar(select(Course.title).where(Course.id == enrolment.course_id))
    outbox.publish(
        session,
        EnrolmentClosed(
            enrolment_id=enrolment.id,
            client_user_id=enrolment.client_user_id,
            organisation_id=enrolment.organisation_id,
            title=title or "",
            outcome=outcome,
            classes=classes,
            amount_fen=amount_fen,
        ),
    )


async def expire(session: AsyncSession, enrolment_id: int) -> None:
    """The due job after the payment window: an enrolment still unpaid closes its payment
    and gives its seats back. A payment that succeeded meanwhile is left to PaymentSucceeded."""
    enrolment = await session.get(Enrolment, enrolment_id)
    if enrolment is None or enrolment.status != EnrolmentStatus.PENDING_PAYMENT:
        return
    system = Actor.for_system()
    intents = await payments.intents_for(session, system, PURPOSE, str(enrolment.id))
    if any(intent.status == "succeeded" for intent in intents):
        return
    for intent in intents:
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
        return
    for row in (
        await session.scalars(
            select(Booking).where(
                Booking.enrolment_id == enrolment.id, Booking.status == BookingStatus.SCHEDULED
            )
        )
    ).all():
        await booking.cancel(session, system, row, CancelledBy.SYSTEM, "not paid in time")
    await _publish_closed(session, enrolment, "expired", enrolment.classes, 0)
    audit.record(
        session,
        system,
        "services.enrolment.expired",
        target_type="services_enrolment",
        target_id=enrolment.id,
        organisation_id=enrolment.organisation_id,
    )

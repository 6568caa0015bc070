"""Booking a slot, cancelling, checking in, completing; no-shows and reminders (due jobs).

A booking takes, in this order: the client's row of `services_client_locks` (an upsert, so
two bookings of one client queue there and the overlap check after it sees every booking
committed before), then one seat of the slot by a conditional UPDATE of `remaining`
(`remaining > 0`), then inserts the booking (a partial unique index keeps one live booking per
client and slot). Every transition is a conditional UPDATE on the status it leaves, so two
clicks never act twice; every one is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import SERVICES_MANAGE, SERVICES_READ, Actor
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import BookingCancelled, BookingNoShow, SessionBooked, SessionReminder
from linli.i18n import N_, Message
from linli.jobs import RemindBooking
from linli.merchants.queries import selling_organisation_ids
from linli.services import medical_records, room
from linli.services.models import Booking, ClientLock, Practitioner, Slot, WeeklySlot
from linli.services.policies import (
    access_own_booking,
    access_provider_booking,
    acting_provider,
    open_slots,
    own_bookings,
    provider_bookings,
    provider_offers,
)
from linli.services.practitioners import local_moment
from linli.services.schemas import DiagnosisIn
from linli.services.states import (
    BOOKING_STATUS_LABELS,
    HOLDING,
    BookingStatus,
    CancelledBy,
    CredentialKind,
    Mode,
    Outcome,
    SlotKind,
)

REMIND_BEFORE = timedelta(hours=1)
CHECK_IN_EARLY = timedelta(minutes=15)  # the provider may check a client in this early
MAX_LISTED = 100


async def find_slots(
    session: AsyncSession,
    *,
    organisation_id: int | None = None,
    practitioner_id: int | None = None,
    kind: SlotKind | None = None,
    category_ids: set[int] | None = None,
    limit: int = MAX_LISTED,
) -> Sequence[Slot]:
    """Open slots of verified providers (not paused) still to start, soonest first (full
    ones too: they say so); of the categories `category_ids` when given."""
    query = open_slots().where(
        Slot.starts_at > clock.now(), Slot.organisation_id.in_(selling_organisation_ids())
    )
    if organisation_id is not None:
        query = query.where(Slot.organisation_id == organisation_id)
    if practitioner_id is not None:
        query = query.where(Slot.practitioner_id == practitioner_id)
    if kind is not None:
        query = query.where(Slot.kind == kind)
    if category_ids is not None:
        query = query.where(Slot.category_id.in_(category_ids))
    return (await session.scalars(query.order_by(Slot.starts_at, Slot.id).limit(limit))).all()


async def _lock_client(session: AsyncSession, user_id: int) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ClientLock).values(user_id=user_id, bookings=1)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ClientLock.user_id],
            set_={"bookings": ClientLock.bookings + 1},
        )
    )


def slot_taken(slot: Slot) -> Conflict:
    if slot.kind == SlotKind.CONSULTATION:
        return Conflict(
            N_("This consultation slot is already taken: choose another time."), code="slot_full"
        )
    return Conflict(N_("This class is full: choose another session."), code="slot_full")


def withdrawn() -> Conflict:
    """The provider withdrew the session (schedule_changes.py) while it was being booked."""
    return Conflict(
        N_("The provider no longer offers this session: choose another."), code="withdrawn"
    )


async def book(
    session: AsyncSession,
    actor: Actor,
    slot_id: int,
    *,
    enrolment_id: int | None = None,
    diagnosis: DiagnosisIn | None = None,
) -> Booking:
    """The client books one seat of `slot_id` (see the module's docstring for the order). An
    online consultation with a doctor is a follow-up visit only: it needs `diagnosis`, the
    document of a physical institution, kept in the booking's consultation record for the
    doctor (an in-person visit needs none: a first diagnosis is made there)."""
    user_id = actor.require_user_id()
    slot = await session.scalar(open_slots().where(Slot.id == slot_id))
    if slot is None:
        raise NotFound(N_("No such session."))
    now = clock.now()
    if slot.starts_at <= now:
        raise Conflict(N_("This session has already started."), code="slot_started")
    if slot.weekly_slot_id is not None and await session.scalar(
        select(WeeklySlot.withdrawn_at).where(WeeklySlot.id == slot.weekly_slot_id)
    ):
        raise withdrawn()
    if not await provider_offers(session, slot.organisation_id):
        raise Conflict(
            N_("This provider offers no sessions at the moment."), code="provider_unavailable"
        )
    practitioner_user, credential = (
        await session.execute(
            select(Practitioner.user_id, Practitioner.credential_kind).where(
                Practitioner.id == slot.practitioner_id
            )
        )
    ).one()
    if practitioner_user == user_id:
        raise Conflict(N_("You run this session yourself."), code="own_session")
    # Internet diagnosis (an online consultation with a doctor) is for follow-up visits only;
    # an in-person visit at the clinic is not (a first diagnosis is made there).
    follow_up = (
        slot.kind == SlotKind.CONSULTATION
        and slot.mode == Mode.ONLINE
        and credential == CredentialKind.DOCTOR
    )
    if follow_up and diagnosis is None:
        raise medical_records.diagnosis_required()
    if diagnosis is not None and not follow_up:
        raise ValidationFailed(
            N_("Only an online consultation with a doctor takes a diagnosis document."),
            fields={"diagnosis": N_("Not for this session.")},
            code="not_a_consultation",
        )
    await _lock_client(session, user_id)
    already = await session.scalar(
        select(Booking.id).where(
            Booking.slot_id == slot.id,
            Booking.client_user_id == user_id,
            Booking.status != BookingStatus.CANCELLED,
        )
    )
    if already is not None:
        raise Conflict(N_("You have already booked this session."), code="already_booked")
    clash = await session.scalar(
        select(Booking)
        .where(
            Booking.client_user_id == user_id,
            Booking.status.in_(HOLDING),
            Booking.starts_at < slot.ends_at,
            Booking.ends_at > slot.starts_at,
        )
        .limit(1)
    )
    if clash is not None:
        raise Conflict(
            N_('You already have a booking at that time: "{title}".'),
            code="overlapping_booking",
            title=clash.title,
        )
    seat = await session.scalar(
        update(Slot)
        .where(Slot.id == slot.id, Slot.status == "open", Slot.remaining > 0)
        .values(remaining=Slot.remaining - 1)
        .returning(Slot.remaining)
        .execution_options(synchronize_session=False)
    )
    if seat is None:
        still_open = await session.scalar(
            select(Slot.id).where(Slot.id == slot.id, Slot.status == "open")
        )
        raise slot_taken(slot) if still_open is not None else withdrawn()
    booking = Booking(
        slot_id=slot.id,
        organisation_id=slot.organisation_id,
        practitioner_id=slot.practitioner_id,
        client_user_id=user_id,
        enrolment_id=enrolment_id,
        title=slot.title,
        mode=slot.mode,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=BookingStatus.SCHEDULED,
        created_at=now,
    )
    session.add(booking)
    await session.flush()
    if diagnosis is not None:
        await medical_records.open_record(session, actor, booking, diagnosis)
    audit.record(
        session,
        actor,
        "services.booking.booked",
        target_type="services_booking",
        target_id=booking.id,
        organisation_id=slot.organisation_id,
        slot=slot.id,
        seats_left=seat,
    )
    if enrolment_id is None:  # not one message per class of a course enrolled in at once
        outbox.publish(
            session,
            SessionBooked(
                booking_id=booking.id,
                client_user_id=user_id,
                organisation_id=slot.organisation_id,
                title=slot.title,
                starts_at=slot.starts_at,
            ),
        )
    remind_at = slot.starts_at - REMIND_BEFORE
    if remind_at > now:
        await outbox.schedule(
            session,
            RemindBooking(booking_id=booking.id),
            remind_at,
            dedupe_key=f"services.remind:{booking.id}",
        )
    return booking


async def _release_seat(session: AsyncSession, slot_id: int) -> None:
    await session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.remaining < Slot.capacity)
        .values(remaining=Slot.remaining + 1)
        .execution_options(synchronize_session=False)
    )


async def _move(
    session: AsyncSession,
    booking: Booking,
    leaving: Sequence[BookingStatus],
    **values: object,
) -> bool:
    """Move `booking` out of one of `leaving` (a conditional UPDATE); False if it had left."""
    moved = await session.scalar(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status.in_(leaving))
        .values(**values)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    await session.refresh(booking)
    return True


def not_now(booking: Booking) -> Conflict:
    label = Message(BOOKING_STATUS_LABELS[BookingStatus(booking.status)])
    return Conflict(
        N_("This booking is {state}: that cannot be done now."), code="wrong_status", state=label
    )


async def cancel(
    session: AsyncSession,
    actor: Actor,
    booking: Booking,
    by: CancelledBy,
    reason: str,
    *,
    leaving: Sequence[BookingStatus] = (BookingStatus.SCHEDULED,),
    course_withdrawn: bool = False,
) -> Booking:
    """Cancel a booking still in one of `leaving` (scheduled: not begun); the seat goes back.
    `course_withdrawn`: a class of a course the school withdrew (told once per enrolment)."""
    now = clock.now()
    if not await _move(
        session,
        booking,
        leaving,
        status=BookingStatus.CANCELLED,
        cancelled_at=now,
        cancelled_by=by,
        cancel_reason=reason or None,
    ):
        raise not_now(booking)
    await _release_seat(session, booking.slot_id)
    audit.record(
        session,
        actor,
        "services.booking.cancelled",
        target_type="services_booking",
        target_id=booking.id,
        organisation_id=booking.organisation_id,
        by=str(by),
        reason=reason,
    )
    outbox.publish(
        session,
        BookingCancelled(
            booking_id=booking.id,
            client_user_id=booking.client_user_id,
            organisation_id=booking.organisation_id,
            title=booking.title,
            starts_at=booking.starts_at,
            cancelled_by=str(by),
            enrolment_id=booking.enrolment_id,
            course_withdrawn=course_withdrawn,
        ),
    )
    return booking


async def cancel_own(session: AsyncSession, actor: Actor, booking_id: int, reason: str) -> Booking:
    """The client cancels before the session starts; the seat goes back."""
    booking = await access_own_booking(session, actor, booking_id)
    if booking.status == BookingStatus.SCHEDULED and booking.starts_at <= clock.now():
        raise Conflict(
            N_("The session has started: it can no longer be cancelled."), code="too_late"
        )
    return await cancel(session, actor, booking, CancelledBy.CLIENT, reason)


async def cancel_by_provider(
    session: AsyncSession, actor: Actor, booking_id: int, reason: str
) -> Booking:
    """The provider cancels a booking not yet begun (leave, illness), or an online one checked
    in that was not given (the practitioner was not in the room for the attendance rule's
    share), with a reason. It counts against the provider (credit); a course's class cancelled
    is refundable to the client."""
    booking = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    if not reason:
        raise ValidationFailed(
            N_("Tell the client why."), fields={"reason": N_("A reason is required.")}
        )
    if booking.status == BookingStatus.SCHEDULED and booking.ends_at <= clock.now():
        raise Conflict(N_("The session has ended."), code="too_late")
    leaving: tuple[BookingStatus, ...] = (BookingStatus.SCHEDULED,)
    if booking.status == BookingStatus.CHECKED_IN:
        given = (
            booking.mode != Mode.ONLINE
            or (await room.attendance_of(session, booking)).practitioner_share_met
        )
        if given:
            raise Conflict(
                N_("This session was given: complete it rather than cancel it."), code="given"
            )
        leaving = (BookingStatus.CHECKED_IN,)
    return await cancel(session, actor, booking, CancelledBy.PROVIDER, reason, leaving=leaving)


async def check_in(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    """The provider checks the client in, from 15 minutes before the start to the end."""
    booking = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    now = clock.now()
    if booking.status == BookingStatus.SCHEDULED:
        if now < booking.starts_at - CHECK_IN_EARLY:
            raise Conflict(N_("Too early to check in."), code="too_early")
        if now >= booking.ends_at:
            raise Conflict(N_("The session has ended."), code="too_late")
        await room.ensure_identity_checked(session, booking)
    if not await _move(
        session,
        booking,
        (BookingStatus.SCHEDULED,),
        status=BookingStatus.CHECKED_IN,
        checked_in_at=now,
        checked_in_by_user_id=actor.user_id,
    ):
        raise not_now(booking)
    audit.record(
        session,
        actor,
        "services.booking.checked_in",
        target_type="services_booking",
        target_id=booking.id,
    )
    return booking


async def complete(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    """The provider marks a checked-in session completed (once it has started)."""
    booking = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    now = clock.now()
    if booking.status == BookingStatus.CHECKED_IN and now < booking.starts_at:
        raise Conflict(N_("The session has not started yet."), code="too_early")
    if booking.status == BookingStatus.CHECKED_IN:
        await medical_records.ensure_may_complete(session, booking)
    if not await _move(
        session,
        booking,
        (BookingStatus.CHECKED_IN,),
        status=BookingStatus.COMPLETED,
        completed_at=now,
    ):
        raise not_now(booking)
    await medical_records.record_outcome(session, booking, Outcome.FOLLOW_UP)
    audit.record(
        session,
        actor,
        "services.booking.completed",
        target_type="services_booking",
        target_id=booking.id,
    )
    return booking


async def mark_no_show(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    """The provider marks a client who did not attend a no-show, once the session started
    (checked in or not): nothing is released for it (a course's fee stays refundable)."""
    booking = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    now = clock.now()
    if booking.status in HOLDING and now < booking.starts_at:
        raise Conflict(N_("The session has not started yet."), code="too_early")
    if not await _move(session, booking, HOLDING, status=BookingStatus.NO_SHOW, no_show_at=now):
        raise not_now(booking)
    audit.record(
        session,
        actor,
        "services.booking.no_show",
        target_type="services_booking",
        target_id=booking.id,
        organisation_id=booking.organisation_id,
        by="provider",
    )
    outbox.publish(
        session,
        BookingNoShow(
            booking_id=booking.id,
            client_user_id=booking.client_user_id,
            organisation_id=booking.organisation_id,
        ),
    )
    return booking


async def mark_no_shows(session: AsyncSession, slot_id: int) -> int:
    """The due job at a slot's end: bookings still scheduled become no-shows. Never before
    the end (a job run early changes nothing); returns how many were marked."""
    slot = await session.get(Slot, slot_id)
    now = clock.now()
    if slot is None or now < slot.ends_at:
        return 0
    marked = (
        await session.execute(
            update(Booking)
            .where(Booking.slot_id == slot_id, Booking.status == BookingStatus.SCHEDULED)
            .values(status=BookingStatus.NO_SHOW, no_show_at=now)
            .returning(Booking.id, Booking.client_user_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    system = Actor.for_system()
    for booking_id, client_user_id in marked:
        audit.record(
            session,
            system,
            "services.booking.no_show",
            target_type="services_booking",
            target_id=booking_id,
            organisation_id=slot.organisation_id,
        )
        outbox.publish(
            session,
            BookingNoShow(
                booking_id=booking_id,
                client_user_id=client_user_id,
                organisation_id=slot.organisation_id,
            ),
        )
    return len(marked)


async def remind(session: AsyncSession, booking_id: int) -> None:
    """The due job an hour before: a reminder in the client's inbox if still booked."""
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.status != BookingStatus.SCHEDULED:
        return
    outbox.publish(
        session,
        SessionReminder(
            booking_id=booking.id,
            client_user_id=booking.client_user_id,
            title=booking.title,
            starts_at=booking.starts_at,
        ),
    )


async def my_bookings(session: AsyncSession, actor: Actor) -> Sequence[Booking]:
    return (
        await session.scalars(
            own_bookings(actor).order_by(Booking.starts_at.desc(), Booking.id.desc()).limit(200)
        )
    ).all()


async def my_booking(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    return await access_own_booking(session, actor, booking_id)


async def provider_day(session: AsyncSession, actor: Actor, day: date) -> Sequence[Booking]:
    """The provider's bookings of one local day (the desk's "today's sessions")."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    start: datetime = local_moment(day, 0)
    return (
        await session.scalars(
            provider_bookings(organisation_id)
            .where(Booking.starts_at >= start, Booking.starts_at < start + timedelta(days=1))
            .order_by(Booking.starts_at, Booking.id)
        )
    ).all()

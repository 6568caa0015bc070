"""The provider changes or withdraws a weekly session, and what its slots to come become.

- Never a slot already started (past or in progress): only slots starting after now.
- A slot to come nobody has booked follows the change: deleted when no booking ever named it,
  else closed (status `cancelled`, its history kept); both by a conditional statement on
  `remaining = capacity` (no live booking), so a booking racing it either took its seat first
  (the slot is then booked and kept) or finds it gone or closed (`409 withdrawn`): never a live
  booking on a closed slot.
- A slot to come someone booked is kept as booked (the clients keep what they booked). On
  withdrawal it takes no more clients (its capacity becomes the seats taken, and booking.book
  refuses a withdrawn session's slots), unless `cancel_booked`: then the slot is closed first
  (the booking core's seat UPDATE asks for an open slot, so nobody books it after) and every
  live booking on it is cancelled by the provider with the reason (booking.cancel: the seat
  back, the client told, against the provider's credit; a course's class refundable).
- A weekly session with a course still open is not moved nor withdrawn (`409 course_running`):
  the course was sold with its timetable; the school withdraws the course first
  (course_changes.py), which refunds its pupils.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import SERVICES_MANAGE, Actor, Permission
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.i18n import N_
from linli.rules import workdays
from linli.services import booking
from linli.services.models import Booking, Course, Leave, Practitioner, Slot, WeeklySlot
from linli.services.policies import acting_provider
from linli.services.practitioners import (
    check_weekly,
    insert_slots,
    local_moment,
    slot_values,
)
from linli.services.schemas import WeeklySlotChangeIn, WeeklySlotIn, WeeklySlotWithdrawIn
from linli.services.states import HOLDING, CancelledBy, CourseStatus, SlotStatus


@dataclass(frozen=True)
class ScheduleChange:
    weekly_slot: WeeklySlot
    closed_slots: int = 0  # slots to come nobody had booked: deleted or closed
    made_slots: int = 0  # made again at the new time
    kept_slots: int = 0  # slots to come with bookings, kept as booked
    cancelled_bookings: int = 0  # cancelled by the provider (withdrawal with cancel_booked)


async def access_weekly(
    session: AsyncSession, actor: Actor, weekly_slot_id: int, permission: Permission
) -> WeeklySlot:
    """One of the acting provider's weekly sessions (404 for another organisation's)."""
    organisation_id = acting_provider(actor, permission)
    row = await session.scalar(
        select(WeeklySlot).where(
            WeeklySlot.id == weekly_slot_id, WeeklySlot.organisation_id == organisation_id
        )
    )
    if row is None:
        raise NotFound(N_("No such weekly session."))
    return row


def _to_come(weekly_slot_id: int, now: datetime) -> list[ColumnElement[bool]]:
    """The open slots of the weekly session not started yet (never a past one)."""
    return [
        Slot.weekly_slot_id == weekly_slot_id,
        Slot.status == SlotStatus.OPEN,
        Slot.starts_at > now,
    ]


def _unbooked() -> list[ColumnElement[bool]]:
    return [Slot.remaining == Slot.capacity]


async def _close_unbooked(
    session: AsyncSession, weekly_slot_id: int, now: datetime
) -> list[datetime]:
    """Delete the slots to come no booking ever named, close those with only cancelled ones;
    both only while nobody holds a seat (conditional). Returns their start times."""
    never_booked = ~exists().where(Booking.slot_id == Slot.id)
    deleted = (
        await session.scalars(
            delete(Slot)
            .where(*_to_come(weekly_slot_id, now), *_unbooked(), never_booked)
            .returning(Slot.starts_at)
            .execution_options(synchronize_session=False)
        )
    ).all()
    closed = (
        await session.scalars(
            update(Slot)
            .where(*_to_come(weekly_slot_id, now), *_unbooked())
            .values(status=SlotStatus.CANCELLED)
            .returning(Slot.starts_at)
            .execution_options(synchronize_session=False)
        )
    ).all()
    return [*deleted, *closed]


async def resize_slots(session: AsyncSession, slot_ids: Sequence[int], capacity: int) -> None:
    """Give each open slot `capacity` places, never fewer than the seats taken: a conditional
    UPDATE per slot (a booking racing it is counted first or sees the new places); one slot
    with more seats taken refuses the whole change (409 capacity_below_taken)."""
    for slot_id in slot_ids:
        resized = await session.scalar(
            update(Slot)
            .where(
                Slot.id == slot_id,
                Slot.status == SlotStatus.OPEN,
                Slot.capacity - Slot.remaining <= capacity,
            )
            .values(remaining=Slot.remaining + capacity - Slot.capacity, capacity=capacity)
            .returning(Slot.id)
            .execution_options(synchronize_session=False)
        )
        if resized is not None:
            continue
        row = (
            await session.execute(
                select(Slot.starts_at, Slot.capacity - Slot.remaining).where(Slot.id == slot_id)
            )
        ).one_or_none()
        if row is None:  # closed meanwhile: nothing to resize
            continue
        raise Conflict(
            N_("{taken} places are taken in the session of {when}: keep at least that many."),
            code="capacity_below_taken",
            taken=int(row[1]),
            when=row[0].astimezone(clock.LOCAL).strftime("%Y-%m-%d %H:%M"),
        )


async def _running_course(session: AsyncSession, weekly: WeeklySlot) -> None:
    course = await session.scalar(
        select(Course.title)
        .where(
            Course.weekly_slot_id == weekly.id,
            Course.status == CourseStatus.OPEN,
            Course.last_day >= workdays.local_date(clock.now()),
        )
        .limit(1)
    )
    if course is not None:
        raise Conflict(
            N_('The course "{title}" is sold with this timetable: withdraw the course first.'),
            code="course_running",
            title=course,
        )


def _not_withdrawn(weekly: WeeklySlot) -> None:
    if weekly.withdrawn_at is not None:
        raise Conflict(N_("This weekly session was withdrawn."), code="withdrawn")


def _start_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


async def change_weekly_slot(
    session: AsyncSession, actor: Actor, weekly_slot_id: int, data: WeeklySlotChangeIn
) -> ScheduleChange:
    """Change a weekly session's title, day, start, length, mode, places or minors' flag,
    checked as when it was added (practitioners.check_weekly, the minors' timetable of the
    provider's region included). Its slots to come nobody booked follow: in place when it
    still starts at the same moment, else closed and made again at the new time in their week
    (working days, not on leave); booked ones stay as booked (their places change with it,
    never below the seats taken)."""
    weekly = await access_weekly(session, actor, weekly_slot_id, SERVICES_MANAGE)
    _not_withdrawn(weekly)
    given = data.model_dump(exclude_unset=True, exclude_none=True)
    if not given:
        raise ValidationFailed(N_("Nothing to change."), fields={"title": N_("Change something.")})
    before = {
        "title": weekly.title,
        "weekday": weekly.weekday,
        "start": _start_text(weekly.start_minute),
        "duration_minutes": weekly.duration_minutes,
        "mode": weekly.mode,
        "capacity": weekly.capacity,
        "for_minors": weekly.for_minors,
    }
    after = before | given
    merged = WeeklySlotIn.model_validate(after | {"kind": weekly.kind})
    practitioner = await session.get(Practitioner, weekly.practitioner_id)
    assert practitioner is not None
    start = await check_weekly(session, practitioner, merged, changing=weekly.id)
    moved = (merged.weekday, start) != (weekly.weekday, weekly.start_minute)
    reshaped = moved or (merged.duration_minutes, merged.mode, merged.for_minors) != (
        weekly.duration_minutes,
        weekly.mode,
        weekly.for_minors,
    )
    if reshaped:
        await _running_course(session, weekly)
    now = clock.now()
    shift = timedelta(days=merged.weekday - weekly.weekday)
    closed: list[datetime] = []
    if moved:
        closed = await _close_unbooked(session, weekly.id, now)
    elif reshaped:  # same moment: the unbooked slots change in place
        length = timedelta(minutes=merged.duration_minutes)
        unbooked = (
            await session.execute(
                select(Slot.id, Slot.starts_at).where(*_to_come(weekly.id, now), *_unbooked())
            )
        ).all()
        for slot_id, starts_at in unbooked:
            await session.execute(
                update(Slot)
                .where(Slot.id == slot_id, *_to_come(weekly.id, now), *_unbooked())
                .values(mode=merged.mode, for_minors=merged.for_minors, ends_at=starts_at + length)
                .execution_options(synchronize_session=False)
            )
    if merged.capacity != weekly.capacity:
        ids = (await session.scalars(select(Slot.id).where(*_to_come(weekly.id, now)))).all()
        await resize_slots(session, ids, merged.capacity)
    if merged.title != weekly.title:
        await session.execute(
            update(Slot)
            .where(*_to_come(weekly.id, now))
            .values(title=merged.title)
            .execution_options(synchronize_session=False)
        )
    kept = 0
    if moved:  # what stays at the old time: the slots someone booked
        kept = len((await session.scalars(select(Slot.id).where(*_to_come(weekly.id, now)))).all())
    weekly.title = merged.title
    weekly.weekday = merged.weekday
    weekly.start_minute = start
    weekly.duration_minutes = merged.duration_minutes
    weekly.mode = merged.mode
    weekly.capacity = merged.capacity
    weekly.for_minors = merged.for_minors
    await session.flush()
    made = await _make_again(session, weekly, [moment + shift for moment in closed], now)
    audit.record(
        session,
        actor,
        "services.schedule.changed",
        target_type="services_weekly_slot",
        target_id=weekly.id,
        practitioner=weekly.practitioner_id,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: after[k] for k, v in before.items() if after[k] != v},
        closed_slots=len(closed),
        made_slots=made,
        kept_slots=kept,
    )
    return ScheduleChange(weekly, closed_slots=len(closed), made_slots=made, kept_slots=kept)


async def _make_again(
    session: AsyncSession, weekly: WeeklySlot, old_starts: list[datetime], now: datetime
) -> int:
    """The closed slots made again at the weekly session's new time in their week: on
    working days, not on the practitioner's leave, not in the past."""
    if not old_starts:
        return 0
    days = sorted({workdays.local_date(moment) for moment in old_starts})
    calendar = await workdays.load(session)
    leave = (
        await session.scalars(
            select(Leave).where(
                Leave.practitioner_id == weekly.practitioner_id,
                Leave.first_day <= days[-1],
                Leave.last_day >= days[0],
            )
        )
    ).all()
    rows = []
    for day in days:
        starts_at = local_moment(day, weekly.start_minute)
        on_leave = any(period.first_day <= day <= period.last_day for period in leave)
        if starts_at > now and calendar.is_working_day(day) and not on_leave:
            rows.append(slot_values(weekly, starts_at, now))
    return len(await insert_slots(session, rows))


async def withdraw_weekly_slot(
    session: AsyncSession, actor: Actor, weekly_slot_id: int, data: WeeklySlotWithdrawIn
) -> ScheduleChange:
    """Withdraw a weekly session: no more slots are made from it; its slots to come nobody
    booked go; booked ones stay and take no more clients, or with `cancel_booked` are closed
    and their bookings cancelled by the provider with the reason. Past slots never change."""
    weekly = await access_weekly(session, actor, weekly_slot_id, SERVICES_MANAGE)
    reason = data.reason.strip()
    if data.cancel_booked and not reason:
        raise ValidationFailed(
            N_("Tell the clients why."), fields={"reason": N_("A reason is required.")}
        )
    await _running_course(session, weekly)
    now = clock.now()
    marked = await session.scalar(
        update(WeeklySlot)
        .where(WeeklySlot.id == weekly.id, WeeklySlot.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
        .returning(WeeklySlot.id)
        .execution_options(synchronize_session=False)
    )
    if marked is None:
        raise Conflict(N_("This weekly session was withdrawn."), code="withdrawn")
    closed = await _close_unbooked(session, weekly.id, now)
    kept = 0
    cancelled = 0
    if data.cancel_booked:
        booked = (
            await session.scalars(
                update(Slot)
                .where(*_to_come(weekly.id, now))
                .values(status=SlotStatus.CANCELLED)
                .returning(Slot.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        rows = (
            await session.scalars(
                select(Booking)
                .where(Booking.slot_id.in_(booked), Booking.status.in_(HOLDING))
                .order_by(Booking.starts_at, Booking.id)
            )
        ).all()
        for row in rows:
            await booking.cancel(session, actor, row, CancelledBy.PROVIDER, reason, leaving=HOLDING)
        cancelled = len(rows)
    else:
        kept = len(
            (
                await session.scalars(
                    update(Slot)
                    .where(*_to_come(weekly.id, now), Slot.remaining < Slot.capacity)
                    .values(capacity=Slot.capacity - Slot.remaining, remaining=0)
                    .returning(Slot.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
    await session.refresh(weekly)
    audit.record(
        session,
        actor,
        "services.schedule.withdrawn",
        target_type="services_weekly_slot",
        target_id=weekly.id,
        practitioner=weekly.practitioner_id,
        reason=reason,
        cancel_booked=data.cancel_booked,
        closed_slots=len(closed),
        kept_slots=kept,
        cancelled_bookings=cancelled,
    )
    return ScheduleChange(
        weekly, closed_slots=len(closed), kept_slots=kept, cancelled_bookings=cancelled
    )

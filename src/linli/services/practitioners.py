"""The provider's side: registering practitioners (credentials checked against the
organisation's licences), their weekly schedules and leave, and slots made from them for a
range of dates, skipping the days off of the working-day calendar and the practitioner's leave.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Membership, User
from linli.audit import service as audit
from linli.authz import SERVICES_MANAGE, SERVICES_PRACTITIONERS, SERVICES_READ, Actor
from linli.errors import Conflict, ValidationFailed
from linli.i18n import N_, Message
from linli.jobs import MarkNoShows
from linli.merchants.licences import LICENCE_LABELS
from linli.merchants.queries import valid_licence_types
from linli.phone import normalize_mobile
from linli.rules import workdays
from linli.services import catalogue
from linli.services.models import Leave, Practitioner, Slot, WeeklySlot
from linli.services.policies import (
    access_practitioner,
    acting_provider,
    ensure_verified,
    provider_rule,
)
from linli.services.schemas import (
    MAX_GENERATE_DAYS,
    GenerateIn,
    LeaveIn,
    PractitionerIn,
    WeeklySlotIn,
)
from linli.services.states import (
    LICENCE_FOR,
    CredentialKind,
    Mode,
    PractitionerStatus,
    SlotKind,
)

DOCTOR_YEARS = 3  # years of independent practice before a doctor may consult online


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


async def register_practitioner(
    session: AsyncSession, actor: Actor, data: PractitionerIn
) -> Practitioner:
    """The owner registers a member of the organisation as a practitioner with their
    credential; the organisation must be verified and hold the licence the kind needs."""
    organisation_id = acting_provider(actor, SERVICES_PRACTITIONERS)
    await ensure_verified(session, organisation_id)
    today = workdays.local_date(clock.now())
    needed = LICENCE_FOR[data.credential_kind]
    if needed not in await valid_licence_types(session, organisation_id, today):
        raise Conflict(
            N_("Your organisation needs a valid {licence} on file for this practitioner."),
            code="licence_missing",
            licence=Message(LICENCE_LABELS.get(needed, needed)),
        )
    if data.credential_kind == CredentialKind.DOCTOR:
        if data.practising_since is None:
            raise ValidationFailed(
                N_("Give the first day of the doctor's independent practice."),
                fields={"practising_since": N_("Required for a doctor.")},
            )
        if data.practising_since > years_before(today, DOCTOR_YEARS):
            raise ValidationFailed(
                N_("A doctor needs at least 3 years of independent practice to consult online."),
                fields={"practising_since": N_("Less than 3 years ago.")},
                code="practice_too_short",
            )
    phone = normalize_mobile(data.phone) or data.phone
    member = await session.scalar(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(User.phone == phone, Membership.organisation_id == organisation_id)
        .limit(1)
    )
    if member is None:
        raise ValidationFailed(
            N_("Only a member of your organisation can be registered as a practitioner."),
            fields={"phone": N_("Not a member of your organisation.")},
        )
    exists = await session.scalar(
        select(Practitioner.id).where(
            Practitioner.organisation_id == organisation_id, Practitioner.user_id == member
        )
    )
    if exists is not None:
        raise Conflict(N_("This member is already a practitioner."), code="already_registered")
    row = Practitioner(
        organisation_id=organisation_id,
        user_id=member,
        real_name=data.real_name,
        credential_kind=data.credential_kind,
        credential_number=data.credential_number,
        practising_since=data.practising_since,
        status=PractitionerStatus.ACTIVE,
        verified_by_user_id=actor.user_id,
        verified_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.practitioner.registered",
        target_type="services_practitioner",
        target_id=row.id,
        user=member,
        credential_kind=str(data.credential_kind),
        licence=needed,
    )
    return row


async def practitioners(session: AsyncSession, actor: Actor) -> Sequence[Practitioner]:
    organisation_id = acting_provider(actor, SERVICES_READ)
    return (
        await session.scalars(
            select(Practitioner)
            .where(Practitioner.organisation_id == organisation_id)
            .order_by(Practitioner.id)
        )
    ).all()


def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _overlaps(a_start: int, a_length: int, b_start: int, b_length: int) -> bool:
    return a_start < b_start + b_length and b_start < a_start + a_length


MINORS_RULE = "services.minors_timetable"


async def _check_minors_timetable(
    session: AsyncSession, organisation_id: int, data: WeeklySlotIn, start: int
) -> None:
    """A class for minors keeps rule services.minors_timetable (the version for the school's
    region): online at most N minutes and ending by its hour, offline ending by its hour
    (Beijing time)."""
    rule = await provider_rule(session, MINORS_RULE, organisation_id)
    values = rule.values
    end = start + data.duration_minutes
    if data.mode == Mode.ONLINE:
        longest = int(values["online_max_minutes"])
        if data.duration_minutes > longest:
            raise ValidationFailed(
                N_("An online class for minors lasts at most {minutes} minutes."),
                fields={"duration_minutes": N_("Too long for minors.")},
                code="minors_too_long",
                minutes=longest,
                rule=f"{rule.rule_id}@{rule.version}",
            )
        end_by = str(values["online_end_by"])
        message = N_("An online class for minors must end by {time}.")
    else:
        end_by = str(values["offline_end_by"])
        message = N_("An in-person class for minors must end by {time}.")
    if end > _minute(end_by):
        raise ValidationFailed(
            message,
            fields={"start": N_("Too late for minors.")},
            code="minors_too_late",
            time=end_by,
            rule=f"{rule.rule_id}@{rule.version}",
        )


async def check_weekly(
    session: AsyncSession,
    practitioner: Practitioner,
    data: WeeklySlotIn,
    *,
    changing: int | None = None,
) -> int:
    """The rules every weekly session keeps, when added and when changed (`changing`: its
    id, not compared with itself): it ends on its day, a consultation has one client, a class
    for minors keeps the minors' timetable (the version for the provider's region), and it
    overlaps no other weekly session of the practitioner still offered. Returns its start
    (minutes after local midnight)."""
    start = _minute(data.start)
    if start + data.duration_minutes > 24 * 60:
        raise ValidationFailed(
            N_("A session must end on the day it starts."),
            fields={"duration_minutes": N_("Ends after midnight.")},
        )
    if data.kind == SlotKind.CONSULTATION and data.capacity != 1:
        raise ValidationFailed(
            N_("A consultation has one client."), fields={"capacity": N_("Must be 1.")}
        )
    if data.for_minors:
        await _check_minors_timetable(session, practitioner.organisation_id, data, start)
    same_day = await session.scalars(
        select(WeeklySlot).where(
            WeeklySlot.practitioner_id == practitioner.id,
            WeeklySlot.weekday == data.weekday,
            WeeklySlot.withdrawn_at.is_(None),
            WeeklySlot.id != (changing or 0),
        )
    )
    for other in same_day:
        if _overlaps(start, data.duration_minutes, other.start_minute, other.duration_minutes):
            raise Conflict(
                N_('This overlaps the practitioner\'s session "{title}" on the same day.'),
                code="schedule_overlap",
                title=other.title,
            )
    return start


async def add_weekly_slot(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: WeeklySlotIn
) -> WeeklySlot:
    practitioner = await access_practitioner(session, actor, practitioner_id, SERVICES_MANAGE)
    start = await check_weekly(session, practitioner, data)
    category = await catalogue.offering_category(session, data.category, data.kind)
    row = WeeklySlot(
        practitioner_id=practitioner.id,
        organisation_id=practitioner.organisation_id,
        title=data.title,
        weekday=data.weekday,
        start_minute=start,
        duration_minutes=data.duration_minutes,
        capacity=data.capacity,
        kind=data.kind,
        mode=data.mode,
        for_minors=data.for_minors,
        category_id=category.id,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.schedule.added",
        target_type="services_weekly_slot",
        target_id=row.id,
        practitioner=practitioner.id,
        weekday=data.weekday,
        start=data.start,
        category=category.code,
    )
    return row


async def weekly_slots(
    session: AsyncSession, actor: Actor, practitioner_id: int
) -> Sequence[WeeklySlot]:
    practitioner = await access_practitioner(session, actor, practitioner_id, SERVICES_READ)
    return (
        await session.scalars(
            select(WeeklySlot)
            .where(WeeklySlot.practitioner_id == practitioner.id)
            .order_by(WeeklySlot.weekday, WeeklySlot.start_minute)
        )
    ).all()


async def leave_of(session: AsyncSession, actor: Actor, practitioner_id: int) -> Sequence[Leave]:
    """The practitioner's leave that has not ended yet, soonest first."""
    practitioner = await access_practitioner(session, actor, practitioner_id, SERVICES_READ)
    today = workdays.local_date(clock.now())
    return (
        await session.scalars(
            select(Leave)
            .where(Leave.practitioner_id == practitioner.id, Leave.last_day >= today)
            .order_by(Leave.first_day)
            .limit(50)
        )
    ).all()


async def add_leave(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: LeaveIn
) -> Leave:
    """Record leave. Slots already made on those days stay (bookings were made on them): the
    provider cancels those bookings; slots made later skip the days."""
    practitioner = await access_practitioner(session, actor, practitioner_id, SERVICES_MANAGE)
    if data.last_day < data.first_day:
        raise ValidationFailed(
            N_("Leave cannot end before it starts."),
            fields={"last_day": N_("Before the first day.")},
        )
    row = Leave(
        practitioner_id=practitioner.id,
        first_day=data.first_day,
        last_day=data.last_day,
        reason=data.reason,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.leave.added",
        target_type="services_practitioner",
        target_id=practitioner.id,
        first_day=data.first_day.isoformat(),
        last_day=data.last_day.isoformat(),
    )
    return row


def local_moment(day: date, minute: int) -> datetime:
    """The UTC moment of `minute` after midnight of `day` in Asia/Shanghai."""
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=clock.LOCAL)
    return local.astimezone(UTC)


async def generate_slots(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: GenerateIn
) -> Sequence[Slot]:
    """Make the practitioner's slots for the days from `first_day` to `last_day`: working
    days only (rules.workdays), none on leave, none in the past; a slot already made for a
    moment is kept as it is. Each slot's no-show job is scheduled for its end."""
    practitioner = await access_practitioner(session, actor, practitioner_id, SERVICES_MANAGE)
    await ensure_verified(session, practitioner.organisation_id)
    if practitioner.status != PractitionerStatus.ACTIVE:
        raise Conflict(N_("This practitioner is suspended."), code="practitioner_suspended")
    if data.last_day < data.first_day:
        raise ValidationFailed(
            N_("The last day is before the first."),
            fields={"last_day": N_("Before the first day.")},
        )
    if (data.last_day - data.first_day).days >= MAX_GENERATE_DAYS:
        raise ValidationFailed(
            N_("Make slots for at most {days} days at a time."),
            fields={"last_day": N_("Too far from the first day.")},
            days=MAX_GENERATE_DAYS,
        )
    calendar = await workdays.load(session)
    week = (
        await session.scalars(
            select(WeeklySlot).where(
                WeeklySlot.practitioner_id == practitioner.id, WeeklySlot.withdrawn_at.is_(None)
            )
        )
    ).all()
    leave = (
        await session.scalars(
            select(Leave).where(
                Leave.practitioner_id == practitioner.id,
                Leave.first_day <= data.last_day,
                Leave.last_day >= data.first_day,
            )
        )
    ).all()
    now = clock.now()
    rows: list[dict[str, object]] = []
    day = data.first_day
    while day <= data.last_day:
        on_leave = any(period.first_day <= day <= period.last_day for period in leave)
        if calendar.is_working_day(day) and not on_leave:
            for entry in week:
                if entry.weekday != day.weekday():
                    continue
                starts_at = local_moment(day, entry.start_minute)
                if starts_at <= now:
                    continue
                rows.append(slot_values(entry, starts_at, now))
        day += timedelta(days=1)
    made = await insert_slots(session, rows)
    audit.record(
        session,
        actor,
        "services.slots.generated",
        target_type="services_practitioner",
        target_id=practitioner.id,
        first_day=data.first_day.isoformat(),
        last_day=data.last_day.isoformat(),
        made=len(made),
        calendar=calendar.label,
    )
    return made


def slot_values(entry: WeeklySlot, starts_at: datetime, now: datetime) -> dict[str, object]:
    """The row of a slot made from a weekly session, starting at `starts_at`."""
    return {
        "practitioner_id": entry.practitioner_id,
        "organisation_id": entry.organisation_id,
        "weekly_slot_id": entry.id,
        "title": entry.title,
        "kind": entry.kind,
        "mode": entry.mode,
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(minutes=entry.duration_minutes),
        "capacity": entry.capacity,
        "remaining": entry.capacity,
        "for_minors": entry.for_minors,
        "category_id": entry.category_id,
        "status": "open",
        "created_at": now,
    }


async def insert_slots(session: AsyncSession, rows: list[dict[str, object]]) -> list[Slot]:
    """Insert the slots (one already made for a practitioner's moment is kept as it is) and
    schedule each new one's no-show job for its end; the new ones, soonest first."""
    made: list[Slot] = []
    if rows:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        ids = (
            await session.scalars(
                insert(Slot)
                .values(rows)
                .on_conflict_do_nothing(index_elements=[Slot.practitioner_id, Slot.starts_at])
                .returning(Slot.id)
            )
        ).all()
        if ids:
            made = list(
                (
                    await session.scalars(
                        select(Slot).where(Slot.id.in_(ids)).order_by(Slot.starts_at)
                    )
                ).all()
            )
    for slot in made:
        await outbox.schedule(
            session,
            MarkNoShows(slot_id=slot.id),
            slot.ends_at,
            dedupe_key=f"services.no_shows:{slot.id}",
        )
    return made

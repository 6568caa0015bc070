"""The online session's room: the practitioner's real-name check before each session they run,
and attendance from the room's join and leave times.

- **Real-name check** (`services_identity_checks`): before the slot's practitioner may open
  the room or anyone checks a client in, the practitioner re-enters their registered real name
  and the last four characters of their credential number, from 15 minutes before the start
  to the end; matched against the practitioner record (spaces and case aside). A mismatch is
  refused and audited (`services.identity.mismatch`, committed although the request fails);
  attempts are limited (IDENTITY_ATTEMPTS per slot and user in IDENTITY_WINDOW), so four
  digits cannot be guessed by trying.
- **Attendance** (`services_room_attendance`): every connection of a party to the room is
  a row (joined, last seen, left); a reconnect adds a row. A party's attended time is the
  union of their rows within the slot's time (an open row lasts until now while it is seen,
  else until it was last seen: the process serving it died).
- **Release gate** (rule `services.online_attendance`): an online class of a course is
  delivered to a client who attended at least `min_share_pct` of the class, the practitioner
  having been in the room at least `practitioner_min_share_pct`; `courses.complete` refuses
  otherwise (409 `not_attended`), and the provider may mark the client a no-show.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, ratelimit
from linli.audit import service as audit
from linli.authz import Actor
from linli.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from linli.i18n import N_
from linli.services.models import Booking, IdentityCheck, Practitioner, RoomAttendance, Slot
from linli.services.policies import provider_rule
from linli.services.states import Mode, PractitionerStatus

ATTENDANCE_RULE = "services.online_attendance"
OPENS_BEFORE = timedelta(minutes=15)  # as the join link's window
IDENTITY_METHOD = "name_and_credential_last4"
IDENTITY_ATTEMPTS = 5
IDENTITY_WINDOW = timedelta(minutes=15)
SEEN_EVERY = timedelta(seconds=20)  # a connected party's row is refreshed this often
SEEN_FRESH = 3 * SEEN_EVERY  # an open row not refreshed since is a connection that died
CLIENT, PRACTITIONER = "client", "practitioner"


# --- the real-name check ------------------------------------------------------------------


def _normal(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


def credential_tail(number: str) -> str:
    """The last four letters or digits of a credential number (what is re-entered)."""
    return "".join(c for c in _normal(number) if c.isalnum())[-4:]


async def _own_slot(session: AsyncSession, actor: Actor, slot_id: int) -> tuple[Slot, Practitioner]:
    """A slot the actor runs as its practitioner (an active one), else 404."""
    user_id = actor.require_user_id()
    found = (
        await session.execute(
            select(Slot, Practitioner)
            .join(Practitioner, Practitioner.id == Slot.practitioner_id)
            .where(
                Slot.id == slot_id,
                Practitioner.user_id == user_id,
                Practitioner.status == PractitionerStatus.ACTIVE,
            )
        )
    ).first()
    if found is None:
        raise NotFound(N_("No such session of yours."))
    return found[0], found[1]


async def identity_check(
    session: AsyncSession, slot_id: int, practitioner_id: int
) -> IdentityCheck | None:
    return await session.scalar(
        select(IdentityCheck).where(
            IdentityCheck.slot_id == slot_id, IdentityCheck.practitioner_id == practitioner_id
        )
    )


async def confirm_identity(
    session: AsyncSession, actor: Actor, slot_id: int, real_name: str, credential_last4: str
) -> IdentityCheck:
    """The slot's practitioner confirms who they are for this session (once per session)."""
    slot, practitioner = await _own_slot(session, actor, slot_id)
    done = await identity_check(session, slot.id, practitioner.id)
    if done is not None:
        return done
    now = clock.now()
    if now < slot.starts_at - OPENS_BEFORE:
        raise Conflict(
            N_("Confirm your identity from 15 minutes before the session starts."),
            code="too_early",
        )
    if now >= slot.ends_at:
        raise Conflict(N_("The session has ended."), code="ended")
    hit = await ratelimit.hit(
        session,
        "services.identity",
        f"{slot.id}:{practitioner.user_id}",
        limit=IDENTITY_ATTEMPTS,
        window=IDENTITY_WINDOW,
    )
    if hit.exceeded:
        raise TooManyRequests(
            N_("Too many attempts: try again in a few minutes."),
            code="identity_rate_limited",
            headers={"Retry-After": str(hit.retry_after_seconds())},
            keep_changes=True,
        )
    name_ok = _normal(real_name) == _normal(practitioner.real_name)
    tail = credential_tail(practitioner.credential_number)
    tail_ok = len(tail) == 4 and _normal(credential_last4) == tail
    if not (name_ok and tail_ok):
        audit.record(
            session,
            actor,
            "services.identity.mismatch",
            target_type="services_slot",
            target_id=slot.id,
            organisation_id=practitioner.organisation_id,
            practitioner=practitioner.id,
            name_matched=name_ok,
            credential_matched=tail_ok,
            attempt=hit.count,
        )
        raise ValidationFailed(
            N_("That is not the real name and credential number on your practitioner record."),
            fields={
                "real_name": N_("Check your real name."),
                "credential_last4": N_("Check the last 4 characters of your credential number."),
            },
            code="identity_mismatch",
            keep_changes=True,  # the attempt counts and is audited
        )
    row = IdentityCheck(
        slot_id=slot.id,
        practitioner_id=practitioner.id,
        organisation_id=practitioner.organisation_id,
        user_id=practitioner.user_id,
        method=IDENTITY_METHOD,
        checked_at=now,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.identity.confirmed",
        target_type="services_slot",
        target_id=slot.id,
        organisation_id=practitioner.organisation_id,
        practitioner=practitioner.id,
        method=IDENTITY_METHOD,
    )
    return row


def identity_required() -> Conflict:
    return Conflict(
        N_(
            "The practitioner has not confirmed their identity for this session yet: they do "
            "so on the session's page before it can begin."
        ),
        code="identity_unchecked",
    )


async def ensure_identity_checked(session: AsyncSession, booking: Booking) -> None:
    """Check-in and the practitioner's room need the practitioner's check for the slot."""
    if await identity_check(session, booking.slot_id, booking.practitioner_id) is None:
        raise identity_required()


async def own_sessions_today(
    session: AsyncSession, actor: Actor, start: datetime, end: datetime
) -> list[tuple[Slot, IdentityCheck | None]]:
    """The slots the actor runs between `start` and `end` with a booking, and their checks."""
    user_id = actor.require_user_id()
    rows = (
        await session.execute(
            select(Slot, IdentityCheck)
            .join(Practitioner, Practitioner.id == Slot.practitioner_id)
            .outerjoin(
                IdentityCheck,
                (IdentityCheck.slot_id == Slot.id)
                & (IdentityCheck.practitioner_id == Slot.practitioner_id),
            )
            .where(
                Practitioner.user_id == user_id,
                Slot.starts_at >= start,
                Slot.starts_at < end,
                Slot.id.in_(select(Booking.slot_id)),
            )
            .order_by(Slot.starts_at, Slot.id)
            .limit(100)
        )
    ).all()
    return [(slot, check) for slot, check in rows]


# --- attendance ----------------------------------------------------------------------------


async def joined(session: AsyncSession, booking: Booking, user_id: int, role: str) -> int:
    """A party connected to the room: a new attendance row; its id."""
    now = clock.now()
    row = RoomAttendance(
        slot_id=booking.slot_id,
        booking_id=booking.id,
        user_id=user_id,
        role=role,
        joined_at=now,
        seen_at=now,
    )
    session.add(row)
    await session.flush()
    return row.id


async def seen(session: AsyncSession, attendance_id: int) -> None:
    await session.execute(
        update(RoomAttendance)
        .where(RoomAttendance.id == attendance_id, RoomAttendance.left_at.is_(None))
        .values(seen_at=clock.now())
        .execution_options(synchronize_session=False)
    )


async def left(session: AsyncSession, attendance_id: int) -> None:
    """The connection closed (left, dropped, or the session ended): its interval ends now."""
    now = clock.now()
    await session.execute(
        update(RoomAttendance)
        .where(RoomAttendance.id == attendance_id, RoomAttendance.left_at.is_(None))
        .values(seen_at=now, left_at=now)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Interval:
    joined_at: datetime
    seen_at: datetime
    left_at: datetime | None


def end_of(interval: Interval, now: datetime) -> datetime:
    if interval.left_at is not None:
        return interval.left_at
    if now - interval.seen_at <= SEEN_FRESH:  # still connected
        return max(now, interval.joined_at)
    return interval.seen_at  # the process serving it died: it ended when last seen


def attended_seconds(
    intervals: Iterable[Interval], start: datetime, end: datetime, now: datetime
) -> int:
    """The union of the intervals within [start, end), in whole seconds."""
    clipped = sorted(
        (max(i.joined_at, start), min(end_of(i, now), end, now))
        for i in intervals
        if i.joined_at < end
    )
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for begin, finish in clipped:
        if finish <= begin:
            continue
        if current is None or begin > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (begin, finish)
        else:
            current = (current[0], max(current[1], finish))
    if current is not None:
        total += current[1] - current[0]
    return int(total.total_seconds())


async def _intervals(
    session: AsyncSession, *conditions: object
) -> dict[tuple[int, int], list[Interval]]:
    """Attendance rows matching `conditions`, by (slot, user)."""
    rows = (
        await session.execute(
            select(
                RoomAttendance.slot_id,
                RoomAttendance.user_id,
                RoomAttendance.joined_at,
                RoomAttendance.seen_at,
                RoomAttendance.left_at,
            ).where(*conditions)  # type: ignore[arg-type]
        )
    ).all()
    found: dict[tuple[int, int], list[Interval]] = {}
    for slot_id, user_id, joined_at, seen_at, left_at in rows:
        found.setdefault((slot_id, user_id), []).append(Interval(joined_at, seen_at, left_at))
    return found


async def attendance_minutes(session: AsyncSession, bookings: Sequence[Booking]) -> dict[int, int]:
    """Each online booking's client's attended minutes so far (the desk's figure)."""
    online = [b for b in bookings if b.mode == Mode.ONLINE]
    if not online:
        return {}
    found = await _intervals(
        session,
        RoomAttendance.slot_id.in_({b.slot_id for b in online}),
        RoomAttendance.role == CLIENT,
    )
    now = clock.now()
    return {
        b.id: attended_seconds(
            found.get((b.slot_id, b.client_user_id), ()), b.starts_at, b.ends_at, now
        )
        // 60
        for b in online
    }


@dataclass(frozen=True)
class Attendance:
    client_seconds: int
    practitioner_seconds: int
    class_seconds: int
    min_share_pct: int
    practitioner_min_share_pct: int
    rule_version: int

    @property
    def client_share_met(self) -> bool:
        return self.client_seconds * 100 >= self.min_share_pct * self.class_seconds

    @property
    def practitioner_share_met(self) -> bool:
        return (
            self.practitioner_seconds * 100 >= self.practitioner_min_share_pct * self.class_seconds
            and self.practitioner_seconds > 0
        )


async def attendance_of(session: AsyncSession, booking: Booking) -> Attendance:
    """The client's and the practitioner's time in the room for `booking`'s session, and the
    rule it is judged by."""
    practitioner_user = await session.scalar(
        select(Practitioner.user_id).where(Practitioner.id == booking.practitioner_id)
    )
    found = await _intervals(session, RoomAttendance.slot_id == booking.slot_id)
    now = clock.now()
    rule = await provider_rule(session, ATTENDANCE_RULE, booking.organisation_id)
    return Attendance(
        client_seconds=attended_seconds(
            found.get((booking.slot_id, booking.client_user_id), ()),
            booking.starts_at,
            booking.ends_at,
            now,
        ),
        practitioner_seconds=attended_seconds(
            found.get((booking.slot_id, practitioner_user or 0), ()),
            booking.starts_at,
            booking.ends_at,
            now,
        ),
        class_seconds=int((booking.ends_at - booking.starts_at).total_seconds()),
        min_share_pct=int(rule.values["min_share_pct"]),
        practitioner_min_share_pct=int(rule.values["practitioner_min_share_pct"]),
        rule_version=rule.version,
    )


async def ensure_delivered_online(session: AsyncSession, booking: Booking) -> Attendance:
    """An online class's fee is released only for the attendance rule's share (409 else)."""
    seen_ = await attendance_of(session, booking)
    if not seen_.practitioner_share_met:
        raise Conflict(
            N_(
                "The practitioner was in the online room for {minutes} minutes of this class: "
                "at least {share} per cent of it is needed before its fee is released. If it "
                "was not given, cancel it (the client may have it refunded)."
            ),
            code="not_delivered",
            minutes=seen_.practitioner_seconds // 60,
            share=seen_.practitioner_min_share_pct,
        )
    if not seen_.client_share_met:
        raise Conflict(
            N_(
                "The client attended {minutes} minutes of this online class: at least {share} "
                "per cent of it is needed before its fee is released. You may mark them a "
                "no-show (the fee stays refundable)."
            ),
            code="not_attended",
            minutes=seen_.client_seconds // 60,
            share=seen_.min_share_pct,
        )
    return seen_

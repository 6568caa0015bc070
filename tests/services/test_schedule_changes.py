"""Changing and withdrawing a weekly session: checked as when added, its unbooked slots to come
follow, booked ones are never dropped silently, past slots never change, and a booking racing
a withdrawal never ends on a closed slot (both databases)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.credit.models import CreditRecord
from linli.notifications.models import Notification
from linli.rules.models import RuleVersion
from linli.services.models import Booking, Slot, WeeklySlot
from tests.services.helpers import (
    API,
    MONDAY,
    Person,
    Provider,
    a_practitioner,
    a_provider,
    book,
    people,
)

LAST_MONDAY = MONDAY + timedelta(days=21)  # four Mondays


async def a_week(
    client: httpx.AsyncClient,
    provider: Provider,
    practitioner: int,
    *,
    first: date = MONDAY,
    last: date = LAST_MONDAY,
    start: str = "09:00",
    minutes: int = 60,
    capacity: int = 5,
    mode: str = "online",
    title: str = "少儿编程",
) -> tuple[int, list[dict[str, Any]]]:
    """A weekly class session on `first`'s weekday and its slots from `first` to `last`."""
    added = await client.post(
        f"{API}/provider/practitioners/{practitioner}/schedule",
        json={
            "title": title,
            "weekday": first.weekday(),
            "start": start,
            "duration_minutes": minutes,
            "kind": "class",
            "mode": mode,
            "capacity": capacity,
        },
        headers=provider.headers,
    )
    assert added.status_code == 201, added.text
    made = await client.post(
        f"{API}/provider/practitioners/{practitioner}/slots",
        json={"first_day": first.isoformat(), "last_day": last.isoformat()},
        headers=provider.headers,
    )
    assert made.status_code == 201, made.text
    week = int(added.json()["id"])
    return week, [s for s in made.json() if s["title"] == title]


async def slots_of(app: FastAPI, week: int) -> list[Slot]:
    async with app.state.sessionmaker() as s:
        return list(
            await s.scalars(
                select(Slot).where(Slot.weekly_slot_id == week).order_by(Slot.starts_at)
            )
        )


def local(slot: Slot) -> str:
    return slot.starts_at.astimezone(clock.LOCAL).strftime("%Y-%m-%d %H:%M")


async def test_a_change_is_checked_as_an_addition_and_the_unbooked_slots_follow_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, staff = await a_practitioner(client, session, provider, "teacher")
    week, slots = await a_week(client, provider, teacher)
    assert len(slots) == 4
    url = f"{API}/provider/weekly-sessions/{week}"
    pupils = await people(session, 3)
    for pupil in pupils:
        assert (await book(client, pupil, slots[1]["id"])).status_code == 201

    # The rules of an addition: the minors' timetable of the provider's region, one client
    # for a consultation (the kind does not change), no overlap, no 0 places, a real change.
    late = await client.patch(
        url,
        json={"for_minors": True, "start": "20:45", "duration_minutes": 30},
        headers=provider.headers,
    )
    assert (late.status_code, late.json()["error"]["code"]) == (422, "minors_too_late")
    long = await client.patch(url, json={"for_minors": True}, headers=provider.headers)
    assert (long.status_code, long.json()["error"]["code"]) == (422, "minors_too_long")
    assert (
        await client.patch(url, json={"capacity": 0}, headers=provider.headers)
    ).status_code == 422
    kind = await client.patch(url, json={"kind": "consultation"}, headers=provider.headers)
    assert kind.status_code == 422
    assert (await client.patch(url, json={}, headers=provider.headers)).status_code == 422
    assert (
        await client.patch(url, json={"start": "25:00"}, headers=provider.headers)
    ).status_code == 422
    await a_week(client, provider, teacher, start="11:00", title="少儿美术")
    overlap = await client.patch(url, json={"start": "10:30"}, headers=provider.headers)
    assert (overlap.status_code, overlap.json()["error"]["code"]) == (409, "schedule_overlap")
    below = await client.patch(url, json={"capacity": 2}, headers=provider.headers)
    assert (below.status_code, below.json()["error"]["code"]) == (409, "capacity_below_taken")
    assert "3 places are taken" in below.json()["error"]["message"]
    assert [(s.capacity, s.remaining) for s in await slots_of(app, week)] == [
        (5, 5),
        (5, 2),
        (5, 5),
        (5, 5),
    ]  # nothing changed by a refused change

    rival = await a_provider(session, licences=("training_school",), name="别家学堂")
    assert (await client.patch(url, json={"title": "x"}, headers=rival.headers)).status_code == 404

    moved = await client.patch(
        url, json={"start": "10:00", "capacity": 3, "title": "少儿编程进阶"}, headers=staff.headers
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["closed_slots"], body["made_slots"], body["kept_slots"]) == (3, 3, 1)
    assert body["weekly_slot"]["start_minute"] == 600
    after = [s for s in await slots_of(app, week) if s.status == "open"]
    assert [(local(s), s.capacity, s.remaining, s.title) for s in after] == [
        ("2026-11-30 10:00", 3, 3, "少儿编程进阶"),
        ("2026-12-07 09:00", 3, 0, "少儿编程进阶"),  # booked: kept where the pupils booked it
        ("2026-12-14 10:00", 3, 3, "少儿编程进阶"),
        ("2026-12-21 10:00", 3, 3, "少儿编程进阶"),
    ]
    async with app.state.sessionmaker() as s:
        live = (
            await s.scalars(select(Booking.status).where(Booking.slot_id == slots[1]["id"]))
        ).all()
        assert live == ["scheduled"] * 3
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "services.schedule.changed")
        )
        assert entry is not None
        assert entry.user_id == staff.user.id
        assert entry.details["before"] == {"start": "09:00", "capacity": 5, "title": "少儿编程"}
        assert entry.details["after"] == {"start": "10:00", "capacity": 3, "title": "少儿编程进阶"}

    # Same moment, another mode: the unbooked slots change in place, the booked one keeps its.
    offline = await client.patch(url, json={"mode": "offline"}, headers=provider.headers)
    assert offline.status_code == 200, offline.text
    assert [(local(s), s.mode) for s in await slots_of(app, week) if s.status == "open"] == [
        ("2026-11-30 10:00", "offline"),
        ("2026-12-07 09:00", "online"),
        ("2026-12-14 10:00", "offline"),
        ("2026-12-21 10:00", "offline"),
    ]


async def test_a_change_keeps_the_minors_timetable_of_the_providers_region(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """Pudong's offline classes for minors end by 20:00: moving one to end at 20:30 is refused
    there, allowed for a school registered elsewhere (the national 20:30)."""
    session.add(
        RuleVersion(
            rule_id="services.minors_timetable",
            version=2,
            jurisdiction="310115",
            title="浦东新区校外培训时间",
            legal_basis="local rule",
            effective_from=clock.now(),
            effective_to=None,
            values={"online_max_minutes": 30, "online_end_by": "21:00", "offline_end_by": "20:00"},
            created_at=clock.now(),
        )
    )
    await session.commit()
    answers = []
    for name, district in (("浦东画室", "310115"), ("徐汇画室", "310104")):
        school = await a_provider(session, licences=("training_school",), name=name)
        school.organisation.province_code = "310000"
        school.organisation.city_code = "310100"
        school.organisation.district_code = district
        await session.commit()
        teacher, _ = await a_practitioner(client, session, school, "teacher")
        added = await client.post(
            f"{API}/provider/practitioners/{teacher}/schedule",
            json={
                "title": "少儿美术",
                "weekday": 2,
                "start": "18:00",
                "duration_minutes": 60,
                "kind": "class",
                "mode": "offline",
                "capacity": 8,
                "for_minors": True,
            },
            headers=school.headers,
        )
        assert added.status_code == 201, added.text
        answers.append(
            await client.patch(
                f"{API}/provider/weekly-sessions/{added.json()['id']}",
                json={"start": "19:30"},
                headers=school.headers,
            )
        )
    pudong, xuhui = answers
    assert (pudong.status_code, pudong.json()["error"]["code"]) == (422, "minors_too_late")
    assert "20:00" in pudong.json()["error"]["message"]
    assert xuhui.status_code == 200, xuhui.text


async def test_a_withdrawal_keeps_booked_sessions_and_never_touches_past_ones(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    week, slots = await a_week(client, provider, teacher, start="18:00", mode="offline")
    first, early, late, newcomer = await people(session, 4)
    assert (await book(client, first, slots[0]["id"])).status_code == 201
    assert (await book(client, early, slots[2]["id"])).status_code == 201
    assert (await book(client, late, slots[2]["id"])).status_code == 201
    frozen_clock.set(
        datetime.fromisoformat(slots[0]["ends_at"]) + timedelta(minutes=5)
    )  # the first Monday is past
    url = f"{API}/provider/weekly-sessions/{week}/withdraw"
    rival = await a_provider(session, licences=("training_school",), name="别家学堂")
    assert (await client.post(url, json={}, headers=rival.headers)).status_code == 404
    without = await client.post(url, json={"cancel_booked": True}, headers=provider.headers)
    assert without.status_code == 422  # the clients are told why

    done = await client.post(url, json={"reason": "老师调岗"}, headers=provider.headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["closed_slots"], body["kept_slots"], body["cancelled_bookings"]) == (2, 1, 0)
    assert body["weekly_slot"]["withdrawn_at"] is not None
    rows = await slots_of(app, week)
    assert [(local(s), s.status, s.capacity, s.remaining) for s in rows] == [
        ("2026-11-30 18:00", "open", 5, 4),  # past: untouched
        ("2026-12-14 18:00", "open", 2, 0),  # booked: given, taking nobody else
    ]
    refused = await book(client, newcomer, slots[2]["id"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "withdrawn")
    cancelled = await client.post(
        f"{API}/bookings/{(await booking_of(app, early, slots[2]['id'])).id}/cancel",
        json={},
        headers=early.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    again = await book(client, newcomer, slots[2]["id"])  # the seat back is not on offer
    assert (again.status_code, again.json()["error"]["code"]) == (409, "withdrawn")
    twice = await client.post(url, json={}, headers=provider.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "withdrawn")
    change = await client.patch(
        f"{API}/provider/weekly-sessions/{week}", json={"title": "x"}, headers=provider.headers
    )
    assert change.json()["error"]["code"] == "withdrawn"
    remade = await client.post(
        f"{API}/provider/practitioners/{teacher}/slots",
        json={"first_day": MONDAY.isoformat(), "last_day": "2027-01-25"},
        headers=provider.headers,
    )
    assert [s for s in remade.json() if s["title"] == "少儿编程"] == []  # none made from it
    course = await client.post(
        f"{API}/provider/courses",
        json={
            "title": "少儿编程",
            "weekly_slot_id": week,
            "first_day": MONDAY.isoformat(),
            "last_day": LAST_MONDAY.isoformat(),
            "price_per_class_fen": 1000,
        },
        headers=provider.headers,
    )
    assert (course.status_code, course.json()["error"]["code"]) == (409, "withdrawn")
    async with app.state.sessionmaker() as s:
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "services.schedule.withdrawn")
        )
        assert entry is not None
        assert entry.user_id == provider.owner.id
        assert entry.details["reason"] == "老师调岗"
        assert (await s.get(WeeklySlot, week)).withdrawn_at is not None


async def booking_of(app: FastAPI, person: Person, slot_id: int) -> Booking:
    async with app.state.sessionmaker() as s:
        row: Booking | None = await s.scalar(
            select(Booking).where(
                Booking.slot_id == slot_id, Booking.client_user_id == person.user.id
            )
        )
    assert row is not None
    return row


async def test_a_withdrawal_may_cancel_the_booked_sessions_by_the_provider_with_the_reason(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    week, slots = await a_week(client, provider, teacher)
    one, two = await people(session, 2)
    assert (await book(client, one, slots[1]["id"])).status_code == 201
    assert (await book(client, two, slots[3]["id"])).status_code == 201
    done = await client.post(
        f"{API}/provider/weekly-sessions/{week}/withdraw",
        json={"reason": "老师生病", "cancel_booked": True},
        headers=provider.headers,
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["closed_slots"], body["kept_slots"], body["cancelled_bookings"]) == (2, 0, 2)
    rows = await slots_of(app, week)
    assert [(s.status, s.remaining) for s in rows] == [("cancelled", 5), ("cancelled", 5)]
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        cancelled = (
            await s.execute(
                select(Booking.status, Booking.cancelled_by, Booking.cancel_reason).order_by(
                    Booking.id
                )
            )
        ).all()
        assert cancelled == [("cancelled", "provider", "老师生病")] * 2
        told = (
            await s.scalars(
                select(Notification.user_id).where(Notification.kind == "service_cancelled")
            )
        ).all()
        assert sorted(told) == sorted([one.user.id, two.user.id])
        against = (
            await s.scalars(
                select(CreditRecord.kind).where(CreditRecord.subject_id == provider.organisation.id)
            )
        ).all()
        assert against == ["service_cancelled_by_provider"] * 2


async def test_a_booking_racing_a_withdrawal_never_ends_on_a_closed_slot(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    clients = await people(session, 24)
    rounds = [
        (cancel_booked, at, f"{8 + 2 * n + cancel_booked:02d}:00", f"班{n}{cancel_booked}")
        for n, at in enumerate((2, 12, 20))
        for cancel_booked in (False, True)
    ]
    for cancel_booked, at, start, title in rounds:
        week, slots = await a_week(client, provider, teacher, start=start, capacity=3, title=title)
        withdraw = client.post(
            f"{API}/provider/weekly-sessions/{week}/withdraw",
            json={"reason": "停课", "cancel_booked": cancel_booked},
            headers=provider.headers,
        )
        bookings = [book(client, person, slots[i % 4]["id"]) for i, person in enumerate(clients)]
        answers = await asyncio.gather(*bookings[:at], withdraw, *bookings[at:])
        withdrawn = answers[at]
        assert withdrawn.status_code == 200, withdrawn.text
        booked = [a for a in answers if a is not withdrawn and a.status_code == 201]
        refused = {
            a.json()["error"]["code"]
            for a in answers
            if a is not withdrawn and a.status_code != 201
        }
        # a slot already gone or closed is not found; one closing under the booking: withdrawn
        assert refused <= {"withdrawn", "slot_full", "not_found"}, refused
        async with app.state.sessionmaker() as s:
            for slot in await s.scalars(select(Slot).where(Slot.weekly_slot_id == week)):
                live = (
                    await s.scalars(
                        select(Booking.id).where(
                            Booking.slot_id == slot.id,
                            Booking.status.in_(("scheduled", "checked_in")),
                        )
                    )
                ).all()
                if slot.status == "cancelled" or cancel_booked:
                    assert slot.status == "cancelled"
                    assert live == []
                    assert slot.remaining == slot.capacity
                else:  # kept: exactly its bookings, nobody else may come
                    assert (slot.capacity, slot.remaining) == (len(live), 0)
                    assert live
            total = (
                await s.scalars(
                    select(Booking.status).where(Booking.id.in_([b.json()["id"] for b in booked]))
                )
            ).all()
        if cancel_booked:
            assert set(total) <= {"cancelled"}
        else:
            assert set(total) <= {"scheduled"}

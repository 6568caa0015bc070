"""The booking core: seats never oversold under a race, no overlapping bookings for a client,
a taken slot refused with its reason, join links for the two parties only, no-shows set by the
due job after the slot ends (and never before)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.merchants.models import MerchantProfile
from linli.notifications.models import Notification
from linli.services.models import Booking, Slot
from tests.factories import login
from tests.services.helpers import (
    API,
    DIAGNOSIS,
    MONDAY,
    a_practitioner,
    a_provider,
    a_slot,
    book,
    confirm_identity,
    count,
    people,
)


async def test_a_hundred_clients_race_for_ten_seats_and_one_consultation(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    doctor, _ = await a_practitioner(client, session, provider, "doctor", name="李医生")
    lesson = await a_slot(client, provider, teacher, capacity=10)
    visit = await a_slot(
        client,
        provider,
        doctor,
        day=MONDAY + timedelta(days=1),
        kind="consultation",
        capacity=1,
        title="复诊",
    )
    clients = await people(session, 100)

    for slot, seats in ((lesson, 10), (visit, 1)):
        document = DIAGNOSIS if slot is visit else None
        results = await asyncio.gather(*(book(client, c, slot["id"], document) for c in clients))
        booked = [r for r in results if r.status_code == 201]
        refused = {(r.status_code, r.json()["error"]["code"]) for r in results if r not in booked}
        assert len(booked) == seats, [r.text for r in results if r.status_code != 409][:3]
        assert refused == {(409, "slot_full")}
        assert await count(app, Booking, Booking.slot_id == slot["id"]) == seats
        async with app.state.sessionmaker() as s:
            assert (await s.get(Slot, slot["id"])).remaining == 0


async def test_a_taken_consultation_is_refused_with_the_reason_and_freed_by_a_cancel(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    doctor, _ = await a_practitioner(client, session, provider, "doctor", name="李医生")
    visit = await a_slot(client, provider, doctor, kind="consultation", capacity=1, title="复诊")
    first, second = await people(session, 2)

    taken = await book(client, first, visit["id"], DIAGNOSIS)
    assert taken.status_code == 201, taken.text
    refused = await book(client, second, visit["id"], DIAGNOSIS)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "slot_full"
    assert "already taken" in refused.json()["error"]["message"]
    again = await book(client, first, visit["id"], DIAGNOSIS)
    assert again.json()["error"]["code"] == "already_booked"

    cancelled = await client.post(
        f"{API}/bookings/{taken.json()['id']}/cancel", json={}, headers=first.headers
    )
    assert cancelled.json()["status"] == "cancelled"
    twice = await client.post(
        f"{API}/bookings/{taken.json()['id']}/cancel", json={}, headers=first.headers
    )
    assert twice.status_code == 409  # the seat is never given back twice
    assert (await book(client, second, visit["id"], DIAGNOSIS)).status_code == 201
    async with app.state.sessionmaker() as s:
        assert (await s.get(Slot, visit["id"])).remaining == 0
        actions = set(await s.scalars(select(AuditEntry.action)))
    assert {"services.booking.booked", "services.booking.cancelled"} <= actions


async def test_a_client_never_holds_two_overlapping_bookings(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    doctor, _ = await a_practitioner(client, session, provider, "doctor", name="李医生")
    lesson = await a_slot(client, provider, teacher, start="09:00", minutes=60)
    visit = await a_slot(
        client,
        provider,
        doctor,
        start="09:30",
        minutes=30,
        kind="consultation",
        capacity=1,
        title="复诊",
    )
    resident, racer = await people(session, 2)

    assert (await book(client, resident, lesson["id"])).status_code == 201
    clash = await book(client, resident, visit["id"], DIAGNOSIS)
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "overlapping_booking"
    assert "少儿编程" in clash.json()["error"]["message"]

    # Racing both at once: exactly one of them.
    raced = await asyncio.gather(
        book(client, racer, lesson["id"]), book(client, racer, visit["id"], DIAGNOSIS)
    )
    assert sorted(r.status_code for r in raced) == [201, 409], [r.text for r in raced]
    assert await count(app, Booking, Booking.client_user_id == racer.user.id) == 1


async def test_the_join_link_admits_the_two_parties_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    doctor, doctor_person = await a_practitioner(client, session, provider, "doctor")
    visit = await a_slot(client, provider, doctor, kind="consultation", capacity=1, title="复诊")
    patient, stranger = await people(session, 2)
    booking = (await book(client, patient, visit["id"], DIAGNOSIS)).json()

    mine = await client.get(f"{API}/bookings/{booking['id']}/join", headers=patient.headers)
    assert mine.status_code == 200, mine.text
    theirs = await client.get(f"{API}/bookings/{booking['id']}/join", headers=doctor_person.headers)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["url"] != mine.json()["url"]
    nosy = await client.get(f"{API}/bookings/{booking['id']}/join", headers=stranger.headers)
    assert nosy.status_code == 404

    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as as_patient,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as as_stranger,
    ):
        await login(as_patient, patient.user)
        await login(as_stranger, stranger.user)
        url = mine.json()["url"]
        early = await as_patient.get(url)
        assert early.status_code == 409  # opens 15 minutes before the start
        frozen_clock.set(datetime.fromisoformat(visit["starts_at"]) - timedelta(minutes=5))
        assert (await as_patient.get(url)).status_code == 200
        assert (await as_stranger.get(url)).status_code == 403  # signed for someone else
        assert (await as_patient.get(url + "x")).status_code == 404  # forged
        assert (await as_patient.get(theirs.json()["url"])).status_code == 403
        frozen_clock.set(datetime.fromisoformat(visit["ends_at"]))
        assert (await as_patient.get(url)).status_code == 409  # over


async def test_no_show_is_set_by_the_due_job_only_after_the_slot_ends(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    teacher, teacher_person = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher, capacity=3)
    absent, present = await people(session, 2)
    gone = (await book(client, absent, lesson["id"])).json()
    came = (await book(client, present, lesson["id"])).json()
    starts = datetime.fromisoformat(lesson["starts_at"])
    ends = datetime.fromisoformat(lesson["ends_at"])

    frozen_clock.set(starts - timedelta(minutes=30))  # the reminder is due (an hour before)
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        kinds = list(
            await s.scalars(select(Notification.kind).where(Notification.user_id == absent.user.id))
        )
    assert kinds.count("service_reminder") == 1

    frozen_clock.set(starts + timedelta(minutes=5))
    await confirm_identity(client, teacher_person, lesson["id"])
    checked = await client.post(
        f"{API}/provider/bookings/{came['id']}/check-in", headers=provider.headers
    )
    assert checked.json()["status"] == "checked_in", checked.text
    frozen_clock.set(ends - timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    assert await count(app, Booking, Booking.status == "no_show") == 0

    frozen_clock.set(ends + timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        assert (await s.get(Booking, gone["id"])).status == "no_show"
        assert (await s.get(Booking, came["id"])).status == "checked_in"
        audited = await s.scalar(
            select(AuditEntry.id).where(
                AuditEntry.action == "services.booking.no_show",
                AuditEntry.target_id == str(gone["id"]),
            )
        )
        assert audited is not None
    done = await client.post(
        f"{API}/provider/bookings/{came['id']}/complete", headers=provider.headers
    )
    assert done.json()["status"] == "completed", done.text


async def test_a_paused_provider_offers_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher)
    (resident,) = await people(session, 1)
    assert [s["id"] for s in (await client.get(f"{API}/slots")).json()] == [lesson["id"]]
    profile = await session.get(MerchantProfile, provider.organisation.id)
    assert profile is not None
    profile.listings_paused = True
    await session.commit()
    assert (await client.get(f"{API}/slots")).json() == []
    refused = await book(client, resident, lesson["id"])
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "provider_unavailable"


async def test_bookings_are_in_the_export_and_keep_the_account_open(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher)
    (resident,) = await people(session, 1)
    booked = (await book(client, resident, lesson["id"])).json()
    export = await client.get("/api/v1/privacy/export", headers=resident.headers)
    assert [b["id"] for b in export.json()["sections"]["services"]["bookings"]] == [booked["id"]]
    async with app.state.sessionmaker() as s:
        reasons = await personal_data.open_obligations()["services"](s, resident.user.id)
    assert [r.msgid for r in reasons] == [
        "Bookings still to come: {count}. Cancel them or attend first."
    ]

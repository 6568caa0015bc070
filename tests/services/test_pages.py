"""The pages: find and book a session, my bookings with the join link, the provider's desk
with today's sessions, check-in and the weekly schedule (English and Chinese)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.files.models import StoredFile
from linli.services.models import Booking
from linli.services.room import credential_tail
from tests.factories import form_login, png_bytes
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


async def test_a_resident_books_on_the_page_and_the_provider_checks_them_in(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    doctor, doctor_person = await a_practitioner(client, session, provider, "doctor", name="李医生")
    visit = await a_slot(client, provider, doctor, kind="consultation", capacity=1, title="复诊")
    (patient,) = await people(session, 1)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as desk,
    ):
        find = await browser.get("/services")
        assert find.status_code == 200
        assert "复诊" in find.text
        csrf = await form_login(browser, patient.user.phone)
        logged_in = await browser.get("/services")
        assert 'name="institution"' in logged_in.text  # a follow-up: the diagnosis document
        without = await browser.post(
            f"/services/slots/{visit['id']}/book", data={"csrf_token": csrf, "institution": ""}
        )
        assert without.status_code == 303  # refused with a flash: nothing booked
        booked = await browser.post(
            f"/services/slots/{visit['id']}/book", data={"csrf_token": csrf, **DIAGNOSIS}
        )
        assert booked.status_code == 303
        assert booked.headers["location"] == "/services/bookings"
        full = await browser.post(f"/services/slots/{visit['id']}/book", data={"csrf_token": csrf})
        assert full.status_code == 303  # refused with a flash, back to the list
        mine = await browser.get("/services/bookings", headers={"Accept-Language": "zh-CN"})
        assert "我的预约" in mine.text
        assert "/services/join/" in mine.text

        csrf_desk = await form_login(desk, doctor_person.user.phone)
        starts = datetime.fromisoformat(visit["starts_at"])
        frozen_clock.set(starts - timedelta(minutes=10))
        page = await desk.get("/services/desk")
        assert page.status_code == 200, page.text
        assert "复诊" in page.text
        assert "/services/join/" in page.text  # the doctor's own link
        booking_id = page.text.split('data-booking="')[1].split('"')[0]
        unchecked = await desk.post(
            f"/services/desk/bookings/{booking_id}/check-in", data={"csrf_token": csrf_desk}
        )
        assert unchecked.status_code == 303  # refused: no real-name check for the session yet
        assert 'data-status="scheduled"' in (await desk.get("/services/desk")).text
        # The doctor's own link opens the real-name check first, then the room.
        link = "/services/join/" + page.text.split('href="/services/join/')[1].split('"')[0]
        room = await desk.get(link, headers={"Accept-Language": "zh-CN"})
        assert "data-identity-form" in room.text
        assert "data-session-room" not in room.text
        identity = f"/services/slots/{visit['id']}/identity"
        credential = f"DOC-{doctor_person.user.id}"
        wrong = await desk.post(
            identity,
            data={
                "csrf_token": csrf_desk,
                "real_name": "李医生",
                "credential_last4": "0000",
                "back": link,
            },
        )
        assert (wrong.status_code, wrong.headers["location"]) == (303, link)
        assert "data-identity-form" in (await desk.get(link)).text  # still refused
        listed = await desk.get("/services/desk/identity", headers={"Accept-Language": "zh-CN"})
        assert f'data-identity-slot="{visit["id"]}"' in listed.text
        confirmed = await desk.post(
            identity,
            data={
                "csrf_token": csrf_desk,
                "real_name": " 李医生 ",
                "credential_last4": credential_tail(credential),
                "back": link,
            },
        )
        assert (confirmed.status_code, confirmed.headers["location"]) == (303, link)
        opened = await desk.get(link)
        assert "data-session-room" in opened.text
        assert "data-identity-form" not in opened.text
        assert 'data-identity="confirmed"' in (await desk.get("/services/desk/identity")).text
        checked = await desk.post(
            f"/services/desk/bookings/{booking_id}/check-in", data={"csrf_token": csrf_desk}
        )
        assert checked.status_code == 303
        after = await desk.get("/services/desk", headers={"Accept-Language": "zh-CN"})
        assert 'data-status="checked_in"' in after.text
        assert "服务工作台" in after.text
        assert "每周" in after.text or "星期一" in after.text
        refused = await browser.get("/services/desk")
        assert refused.status_code == 403


async def test_a_follow_up_on_the_pages_doctor_prescribes_pharmacist_approves_patient_sees(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("medical_institution",))
    doctor, doctor_person = await a_practitioner(client, session, provider, "doctor", name="李医生")
    _, pharmacist = await a_practitioner(client, session, provider, "pharmacist", name="赵药师")
    visit = await a_slot(client, provider, doctor, kind="consultation", capacity=1, title="复诊")
    (patient,) = await people(session, 1)
    booking = (await book(client, patient, visit["id"], DIAGNOSIS)).json()
    transport = httpx.ASGITransport(app=app)
    browsers = [
        httpx.AsyncClient(transport=transport, base_url="http://testserver") for _ in range(3)
    ]
    async with browsers[0] as resident, browsers[1] as desk, browsers[2] as pharmacy:
        csrf_doctor = await form_login(desk, doctor_person.user.phone)
        frozen_clock.set(datetime.fromisoformat(visit["starts_at"]) - timedelta(minutes=10))
        today = await desk.get("/services/desk")
        assert f"/services/desk/consultations/{booking['id']}" in today.text
        page = f"/services/desk/consultations/{booking['id']}"
        shown = await desk.get(page)
        assert DIAGNOSIS["condition"] in shown.text
        assert 'data-document="submitted"' in shown.text
        accepted = await desk.post(f"{page}/accept", data={"csrf_token": csrf_doctor})
        assert accepted.status_code == 303
        await confirm_identity(client, doctor_person, visit["id"])
        await desk.post(
            f"/services/desk/bookings/{booking['id']}/check-in", data={"csrf_token": csrf_doctor}
        )
        frozen_clock.set(datetime.fromisoformat(visit["starts_at"]) + timedelta(minutes=5))
        form = (await desk.get(page, headers={"Accept-Language": "zh-CN"})).text
        assert "开具处方" in form or "签署处方" in form
        written = await desk.post(
            f"{page}/prescriptions",
            data={
                "csrf_token": csrf_doctor,
                "drug_name": "二甲双胍缓释片",
                "drug_class": "ordinary",
                "dosage": "0.5 g, twice a day",
                "quantity": "2",
                "unit": "盒",
            },
        )
        assert written.status_code == 303
        banned = await desk.post(
            f"{page}/prescriptions",
            data={
                "csrf_token": csrf_doctor,
                "drug_name": "吗啡",
                "drug_class": "narcotic",
                "dosage": "10 mg",
                "quantity": "1",
            },
        )
        assert banned.status_code == 303  # refused with a flash
        after = await desk.get(page)
        assert after.text.count("data-prescription=") == 1
        assert 'data-state="pending_review"' in after.text
        written_id = after.text.split('data-prescription="')[1].split('"')[0]
        extended = await desk.post(
            f"/services/desk/prescriptions/{written_id}/extend",
            data={"csrf_token": csrf_doctor, "valid_days": "3", "back": page},
        )
        assert extended.headers["location"] == page
        assert "2026-12-02" in (await desk.get(page)).text  # Monday 30 November + 2 days

        csrf_pharmacist = await form_login(pharmacy, pharmacist.user.phone)
        queue = await pharmacy.get(
            "/services/desk/prescriptions", headers={"Accept-Language": "zh-CN"}
        )
        assert "待审核处方" in queue.text
        prescription_id = queue.text.split('data-prescription="')[1].split('"')[0]
        approved = await pharmacy.post(
            f"/services/desk/prescriptions/{prescription_id}/approve",
            data={"csrf_token": csrf_pharmacist},
        )
        assert approved.status_code == 303
        assert "data-prescription=" not in (await pharmacy.get("/services/desk/prescriptions")).text

        await form_login(resident, patient.user.phone)
        mine = await resident.get("/services/prescriptions", headers={"Accept-Language": "zh-CN"})
        assert "我的处方" in mine.text
        assert 'data-state="approved"' in mine.text
        assert 'data-dispensable="yes"' in mine.text
        assert (await resident.get(page)).status_code == 403  # not a member of the clinic


async def test_a_follow_up_booked_on_the_page_keeps_the_scan_and_refuses_a_non_document(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    doctor, doctor_person = await a_practitioner(client, session, provider, "doctor", name="李医生")
    visit = await a_slot(client, provider, doctor, kind="consultation", capacity=1, title="复诊")
    (patient,) = await people(session, 1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        csrf = await form_login(browser, patient.user.phone)
        form = await browser.get("/services")
        assert 'enctype="multipart/form-data"' in form.text
        assert 'name="scan"' in form.text
        path = f"/services/slots/{visit['id']}/book"
        script = await browser.post(
            path,
            data={"csrf_token": csrf, **DIAGNOSIS},
            files={"scan": ("diagnosis.pdf", b"#!/bin/sh\necho not a scan\n", "application/pdf")},
        )
        assert script.status_code == 303  # refused with a flash: nothing booked, nothing kept
        told = await browser.get(script.headers["location"])
        assert "This file is not accepted" in told.text
        assert await count(app, Booking) == 0
        assert await count(app, StoredFile, StoredFile.purpose == "diagnosis") == 0
        booked = await browser.post(
            path,
            data={"csrf_token": csrf, **DIAGNOSIS},
            files={"scan": ("出院小结.png", png_bytes(40, 30), "image/png")},
        )
        assert booked.headers["location"] == "/services/bookings", booked.text
    (record,) = (await client.get(f"{API}/consultations", headers=patient.headers)).json()
    assert record["condition"] == DIAGNOSIS["condition"]
    assert record["file_id"] is not None
    scan = await client.get(
        f"{API}/consultations/{record['booking_id']}/document", headers=doctor_person.headers
    )
    assert scan.status_code == 200
    assert scan.headers["content-type"] == "image/png"


async def test_the_desk_cancels_a_booking_with_the_reason_told_to_the_client(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher, day=MONDAY)
    (pupil,) = await people(session, 1)
    booked = (await book(client, pupil, lesson["id"])).json()
    frozen_clock.set(datetime.fromisoformat(lesson["starts_at"]) - timedelta(hours=2))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as desk:
        csrf = await form_login(desk, provider.owner.phone)
        page = await desk.get("/services/desk")
        assert f'action="/services/desk/bookings/{booked["id"]}/cancel"' in page.text
        url = f"/services/desk/bookings/{booked['id']}/cancel"
        silent = await desk.post(url, data={"csrf_token": csrf, "reason": ""})
        assert silent.status_code == 303  # back with "tell the client why"; nothing changed
        told = await desk.post(url, data={"csrf_token": csrf, "reason": "老师生病"})
        assert told.status_code == 303
    mine = (await client.get(f"{API}/bookings/{booked['id']}", headers=pupil.headers)).json()
    assert (mine["status"], mine["cancelled_by"]) == ("cancelled", "provider")

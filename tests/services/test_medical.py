"""Internet+medical follow-up care: follow-up visits only (a diagnosis document the treating
doctor accepts or rejects; a referral offline), prescriptions (signed by the treating doctor,
banned classes refused, reviewed by a pharmacist other than the prescriber, valid for their
day, extendable to 3 days, expired by the clock), records kept for their period and purged
after it (never before), and who sees them: the patient, the treating organisation and the
regulator of its region, nobody else."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.files.models import StoredFile
from linli.jobs import PurgeMedicalRecords
from linli.services import handlers
from linli.services.models import Booking, ConsultationRecord, Prescription, Slot
from tests.factories import login, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer
from tests.services.helpers import (
    API,
    DIAGNOSIS,
    MONDAY,
    Person,
    Provider,
    a_practitioner,
    a_provider,
    a_slot,
    book,
    confirm_identity,
    count,
    people,
)

ORDINARY = {
    "drug_name": "二甲双胍缓释片",
    "drug_class": "ordinary",
    "dosage": "0.5 g, twice a day",
    "quantity": 1,
    "unit": "盒",
}


@dataclass
class Clinic:
    provider: Provider
    doctor_id: int
    doctor: Person
    pharmacist: Person


async def a_clinic(client: httpx.AsyncClient, session: AsyncSession) -> Clinic:
    provider = await a_provider(session, licences=("medical_institution",), name="邻里社区医院")
    provider.organisation.province_code = "310000"  # Shanghai: its regulator's region
    await session.commit()
    doctor_id, doctor = await a_practitioner(client, session, provider, "doctor", name="李医生")
    _, pharmacist = await a_practitioner(client, session, provider, "pharmacist", name="赵药师")
    return Clinic(provider, doctor_id, doctor, pharmacist)


async def a_visit(
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Person,
    day: date = MONDAY,
    diagnosis: dict[str, Any] = DIAGNOSIS,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A follow-up consultation on `day` at 09:00 booked by `patient`: (slot, booking)."""
    slot = await a_slot(
        client,
        clinic.provider,
        clinic.doctor_id,
        day=day,
        minutes=30,
        kind="consultation",
        capacity=1,
        title="糖尿病复诊",
    )
    booked = await book(client, patient, slot["id"], diagnosis)
    assert booked.status_code == 201, booked.text
    return slot, booked.json()


async def started(
    client: httpx.AsyncClient, clinic: Clinic, booking: dict[str, Any], clock: FrozenClock
) -> None:
    """The desk checks the patient in; the clock is five minutes into the consultation."""
    clock.set(datetime.fromisoformat(booking["starts_at"]) - timedelta(minutes=10))
    await confirm_identity(client, clinic.doctor, booking["slot_id"])
    checked = await client.post(
        f"{API}/provider/bookings/{booking['id']}/check-in", headers=clinic.provider.headers
    )
    assert checked.status_code == 200, checked.text
    clock.set(datetime.fromisoformat(booking["starts_at"]) + timedelta(minutes=5))


SCAN = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


async def a_scan(client: httpx.AsyncClient, patient: Person) -> int:
    """The patient uploads the scan of their diagnosis document: its file id."""
    uploaded = await client.post(
        f"{API}/diagnosis-files",
        files={"file": ("诊断证明.pdf", SCAN, "application/pdf")},
        headers=patient.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    return int(uploaded.json()["id"])


def consultation(booking: dict[str, Any], action: str = "") -> str:
    return f"{API}/provider/consultations/{booking['id']}{action}"


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_follow_up_only_the_doctor_accepts_rejects_or_refers_offline(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    clinic = await a_clinic(client, session)
    patient, second, third = await people(session, 3)
    slot = await a_slot(
        client,
        clinic.provider,
        clinic.doctor_id,
        minutes=30,
        kind="consultation",
        capacity=1,
        title="糖尿病复诊",
    )

    # A first visit (no diagnosis document) is refused with the reason; nothing is booked.
    first_visit = await book(client, patient, slot["id"])
    assert code(first_visit) == (422, "diagnosis_required")
    assert "follow-up visits only" in first_visit.json()["error"]["message"]
    future = await book(client, patient, slot["id"], {**DIAGNOSIS, "diagnosed_on": "2026-12-01"})
    assert code(future) == (422, "diagnosis_in_future")
    assert await count(app, Booking, Booking.slot_id == slot["id"]) == 0
    in_person = await a_slot(
        client,
        clinic.provider,
        clinic.doctor_id,
        start="14:00",
        kind="consultation",
        capacity=1,
        mode="offline",
        title="门诊",
    )
    assert (await book(client, second, in_person["id"])).status_code == 201  # no document
    assert code(await book(client, third, in_person["id"], DIAGNOSIS)) == (
        422,
        "not_a_consultation",
    )
    booking = (await book(client, patient, slot["id"], DIAGNOSIS)).json()
    mine = (await client.get(f"{API}/consultations", headers=patient.headers)).json()
    assert [(r["booking_id"], r["document_status"], r["condition"]) for r in mine] == [
        (booking["id"], "submitted", "2型糖尿病")
    ]

    # Only the treating doctor decides; without an accepted document nothing goes on.
    owner = await client.post(consultation(booking, "/accept"), headers=clinic.provider.headers)
    assert code(owner) == (403, "not_treating_doctor")
    await started(client, clinic, booking, frozen_clock)
    early = await client.post(
        f"{API}/provider/bookings/{booking['id']}/complete", headers=clinic.provider.headers
    )
    assert code(early) == (409, "diagnosis_not_accepted")
    unaccepted = await client.post(
        consultation(booking, "/prescriptions"), json=ORDINARY, headers=clinic.doctor.headers
    )
    assert code(unaccepted) == (409, "diagnosis_not_accepted")
    accepted = await client.post(consultation(booking, "/accept"), headers=clinic.doctor.headers)
    assert accepted.json()["document_status"] == "accepted", accepted.text
    again = await client.post(consultation(booking, "/accept"), headers=clinic.doctor.headers)
    assert code(again) == (409, "already_decided")
    done = await client.post(
        f"{API}/provider/bookings/{booking['id']}/complete", headers=clinic.provider.headers
    )
    assert done.json()["status"] == "completed", done.text
    record = (await client.get(consultation(booking), headers=clinic.provider.headers)).json()
    assert record["outcome"] == "follow_up"

    # Rejected: the booking is cancelled with the reason, the seat goes back.
    slot2, rejected_booking = await a_visit(client, clinic, second, MONDAY + timedelta(days=1))
    rejected = await client.post(
        consultation(rejected_booking, "/reject"),
        json={"reason": "诊断证明不是实体医院出具"},
        headers=clinic.doctor.headers,
    )
    assert rejected.json()["document_status"] == "rejected", rejected.text
    assert rejected.json()["reject_reason"] == "诊断证明不是实体医院出具"
    theirs = (
        await client.get(f"{API}/bookings/{rejected_booking['id']}", headers=second.headers)
    ).json()
    assert (theirs["status"], theirs["cancelled_by"]) == ("cancelled", "provider")
    async with app.state.sessionmaker() as s:
        assert (await s.get(Slot, slot2["id"])).remaining == 1

    # The condition changed: the doctor ends the consultation and refers offline.
    _, referred_booking = await a_visit(client, clinic, third, MONDAY + timedelta(days=2))
    await client.post(consultation(referred_booking, "/accept"), headers=clinic.doctor.headers)
    await started(client, clinic, referred_booking, frozen_clock)
    referred = await client.post(
        consultation(referred_booking, "/refer"),
        json={"note": "血糖控制明显恶化，需线下就诊"},
        headers=clinic.doctor.headers,
    )
    assert referred.json()["outcome"] == "referred_offline", referred.text
    assert (
        await client.get(f"{API}/bookings/{referred_booking['id']}", headers=third.headers)
    ).json()["status"] == "completed"
    late = await client.post(
        consultation(referred_booking, "/prescriptions"),
        json=ORDINARY,
        headers=clinic.doctor.headers,
    )
    assert code(late) == (409, "not_in_consultation")

    async with app.state.sessionmaker() as s:
        actions = set(
            await s.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("services.medical.%"))
            )
        )
    assert actions == {
        "services.medical.document_submitted",
        "services.medical.document_accepted",
        "services.medical.document_rejected",
        "services.medical.referred_offline",
    }


async def test_prescriptions_are_signed_reviewed_by_another_pharmacist_and_valid_for_their_day(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    clinic = await a_clinic(client, session)
    (patient,) = await people(session, 1)
    _, booking = await a_visit(client, clinic, patient)
    await client.post(consultation(booking, "/accept"), headers=clinic.doctor.headers)
    await started(client, clinic, booking, frozen_clock)
    write = consultation(booking, "/prescriptions")

    for banned in ("narcotic", "psychotropic_1", "psychotropic_2"):
        refused = await client.post(
            write, json={**ORDINARY, "drug_class": banned}, headers=clinic.doctor.headers
        )
        assert code(refused) == (422, "drug_class_banned")
    not_the_doctor = await client.post(write, json=ORDINARY, headers=clinic.pharmacist.headers)
    assert code(not_the_doctor) == (403, "not_treating_doctor")
    written = await client.post(
        write, json={**ORDINARY, "quantity": 2, "unit": "盒"}, headers=clinic.doctor.headers
    )
    assert written.status_code == 201, written.text
    first = written.json()
    assert (first["status"], first["state"], first["dispensable"]) == (
        "pending_review",
        "pending_review",
        False,
    )
    assert first["issued_on"] == first["valid_until"] == MONDAY.isoformat()
    assert len(first["signature"]) > 20
    second = (
        await client.post(
            write, json={**ORDINARY, "drug_name": "阿卡波糖片"}, headers=clinic.doctor.headers
        )
    ).json()
    queue = await client.get(
        f"{API}/provider/prescriptions?status=pending_review", headers=clinic.pharmacist.headers
    )
    assert [p["id"] for p in queue.json()] == [first["id"], second["id"]]

    approve = f"{API}/provider/prescriptions/{first['id']}/approve"
    assert code(await client.post(approve, headers=clinic.doctor.headers)) == (
        403,
        "own_prescription",
    )
    assert code(await client.post(approve, headers=clinic.provider.headers)) == (
        403,
        "not_a_pharmacist",
    )
    # Another organisation's pharmacist does not even see it.
    other = await a_clinic(client, session)
    assert (await client.post(approve, headers=other.pharmacist.headers)).status_code == 404
    # Content changed behind the signature: refused.
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(Prescription).where(Prescription.id == first["id"]).values(quantity=20)
        )
        await s.commit()
    assert code(await client.post(approve, headers=clinic.pharmacist.headers)) == (
        409,
        "bad_signature",
    )
    # A longer validity written behind the doctor's back: refused as well (the doctor's
    # extension below signs it again).
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(Prescription)
            .where(Prescription.id == first["id"])
            .values(quantity=2, valid_until=MONDAY + timedelta(days=2))
        )
        await s.commit()
    assert code(await client.post(approve, headers=clinic.pharmacist.headers)) == (
        409,
        "bad_signature",
    )
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(Prescription).where(Prescription.id == first["id"]).values(valid_until=MONDAY)
        )
        await s.commit()

    # Valid for its day, extendable by its doctor to 3 days at most.
    extend = f"{API}/provider/prescriptions/{first['id']}/extend"
    too_long = await client.post(extend, json={"valid_days": 4}, headers=clinic.doctor.headers)
    assert code(too_long) == (422, "validity_too_long")
    extended = await client.post(extend, json={"valid_days": 3}, headers=clinic.doctor.headers)
    assert extended.json()["valid_until"] == (MONDAY + timedelta(days=2)).isoformat()

    # Two clicks of the pharmacist: one review.
    raced = await asyncio.gather(
        client.post(approve, headers=clinic.pharmacist.headers),
        client.post(approve, headers=clinic.pharmacist.headers),
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    mine = {
        p["id"]: p
        for p in (await client.get(f"{API}/prescriptions", headers=patient.headers)).json()
    }
    assert (mine[first["id"]]["state"], mine[first["id"]]["dispensable"]) == ("approved", True)
    assert mine[second["id"]]["dispensable"] is False  # nothing dispensable before review

    # The next day: the second (valid for its day only) has expired unreviewed.
    frozen_clock.set(datetime.fromisoformat(booking["starts_at"]) + timedelta(days=1))
    late = await client.post(
        f"{API}/provider/prescriptions/{second['id']}/approve", headers=clinic.pharmacist.headers
    )
    assert code(late) == (409, "expired")
    mine = {
        p["id"]: p
        for p in (await client.get(f"{API}/prescriptions", headers=patient.headers)).json()
    }
    assert mine[second["id"]]["state"] == "expired"
    assert mine[first["id"]]["dispensable"] is True  # extended to Wednesday
    frozen_clock.set(datetime.fromisoformat(booking["starts_at"]) + timedelta(days=3))
    mine = {
        p["id"]: p
        for p in (await client.get(f"{API}/prescriptions", headers=patient.headers)).json()
    }
    assert (mine[first["id"]]["state"], mine[first["id"]]["dispensable"]) == ("expired", False)

    async with app.state.sessionmaker() as s:
        entries = (
            await s.execute(
                select(AuditEntry.action, AuditEntry.user_id).where(
                    AuditEntry.target_type == "services_prescription"
                )
            )
        ).all()
    assert ("services.medical.prescribed", clinic.doctor.user.id) in entries
    assert ("services.medical.prescription_extended", clinic.doctor.user.id) in entries
    assert ("services.medical.prescription_approved", clinic.pharmacist.user.id) in entries


async def test_a_prescription_is_dispensed_once_after_review_within_its_validity(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    clinic = await a_clinic(client, session)
    (patient,) = await people(session, 1)
    _, booking = await a_visit(client, clinic, patient)
    await client.post(consultation(booking, "/accept"), headers=clinic.doctor.headers)
    await started(client, clinic, booking, frozen_clock)
    write = consultation(booking, "/prescriptions")
    first, second = [
        (await client.post(write, json=ORDINARY, headers=clinic.doctor.headers)).json()
        for _ in range(2)
    ]

    def dispense(prescription: dict[str, Any]) -> str:
        return f"{API}/provider/prescriptions/{prescription['id']}/dispense"

    early = await client.post(dispense(first), headers=clinic.pharmacist.headers)
    assert code(early) == (409, "not_approved")  # nothing dispensed before the review
    for prescription in (first, second):
        approved = await client.post(
            f"{API}/provider/prescriptions/{prescription['id']}/approve",
            headers=clinic.pharmacist.headers,
        )
        assert approved.status_code == 200, approved.text
    assert code(await client.post(dispense(first), headers=clinic.doctor.headers)) == (
        403,
        "not_a_pharmacist",
    )
    other = await a_clinic(client, session)
    assert (await client.post(dispense(first), headers=other.pharmacist.headers)).status_code == 404
    raced = await asyncio.gather(
        client.post(dispense(first), headers=clinic.pharmacist.headers),
        client.post(dispense(first), headers=clinic.pharmacist.headers),
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    done = next(r for r in raced if r.status_code == 200).json()
    assert (done["state"], done["dispensable"]) == ("dispensed", False)
    assert done["dispensed_at"] is not None
    refused = next(r for r in raced if r.status_code == 409)
    assert code(refused) == (409, "already_dispensed")
    mine = {
        p["id"]: p
        for p in (await client.get(f"{API}/prescriptions", headers=patient.headers)).json()
    }
    assert mine[first["id"]]["state"] == "dispensed"

    # Past its day, the second may no longer be dispensed.
    frozen_clock.set(datetime.fromisoformat(booking["starts_at"]) + timedelta(days=1))
    late = await client.post(dispense(second), headers=clinic.pharmacist.headers)
    assert code(late) == (409, "expired")
    async with app.state.sessionmaker() as s:
        rows = (
            await s.execute(
                select(Prescription.id, Prescription.dispensed_by_user_id).where(
                    Prescription.dispensed_at.is_not(None)
                )
            )
        ).all()
        audited = await s.scalar(
            select(func.count()).where(AuditEntry.action == "services.medical.dispensed")
        )
    assert rows == [(first["id"], clinic.pharmacist.user.id)]
    assert audited == 1


async def test_records_are_kept_for_their_period_and_purged_after_it_never_before(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    clinic = await a_clinic(client, session)
    (patient,) = await people(session, 1)
    scan_id = await a_scan(client, patient)
    _, booking = await a_visit(client, clinic, patient, diagnosis={**DIAGNOSIS, "file_id": scan_id})
    await client.post(consultation(booking, "/accept"), headers=clinic.doctor.headers)
    await started(client, clinic, booking, frozen_clock)
    for drug_class in ("ordinary", "toxic"):
        written = await client.post(
            consultation(booking, "/prescriptions"),
            json={**ORDINARY, "drug_class": drug_class},
            headers=clinic.doctor.headers,
        )
        assert written.status_code == 201, written.text
    moment = datetime.fromisoformat(booking["starts_at"])

    async def purge_on(day: date) -> tuple[int, list[str]]:
        frozen_clock.set(moment.replace(year=day.year, month=day.month, day=day.day))
        async with app.state.sessionmaker() as s:
            await handlers.purge_medical_records(s, PurgeMedicalRecords())
            await s.commit()
            records = int(await s.scalar(select(ConsultationRecord.id).limit(1)) is not None)
            classes = sorted(await s.scalars(select(Prescription.drug_class)))
        return records, classes

    # Kept up to the end of each period (1 year ordinary, 2 years toxic, 15 years the record).
    assert await purge_on(date(2027, 11, 30)) == (1, ["ordinary", "toxic"])
    assert await purge_on(date(2027, 12, 1)) == (1, ["toxic"])
    assert await purge_on(date(2028, 11, 30)) == (1, ["toxic"])
    assert await purge_on(date(2028, 12, 1)) == (1, [])
    assert await purge_on(date(2041, 11, 30)) == (1, [])
    assert await count(app, StoredFile, StoredFile.id == scan_id) == 1
    assert await purge_on(date(2041, 12, 1)) == (0, [])
    assert await count(app, StoredFile, StoredFile.id == scan_id) == 0  # the scan went with it
    # The booking, a transaction record, stays; each purge is audited; the next one is due.
    assert await count(app, Booking, Booking.id == booking["id"]) == 1
    async with app.state.sessionmaker() as s:
        purges = list(
            await s.scalars(
                select(AuditEntry.details)
                .where(AuditEntry.action == "services.medical.purged")
                .order_by(AuditEntry.id)
            )
        )
    assert [(p["records"], p["prescriptions"]) for p in purges] == [(0, 1), (0, 1), (1, 0)]


async def test_medical_records_are_seen_by_the_patient_the_clinic_and_its_regulator_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    clinic = await a_clinic(client, session)
    patient, neighbour = await people(session, 2)
    file_id = await a_scan(client, patient)
    _, booking = await a_visit(client, clinic, patient, diagnosis={**DIAGNOSIS, "file_id": file_id})
    await client.post(consultation(booking, "/accept"), headers=clinic.doctor.headers)
    await started(client, clinic, booking, frozen_clock)
    prescription = (
        await client.post(
            consultation(booking, "/prescriptions"), json=ORDINARY, headers=clinic.doctor.headers
        )
    ).json()
    other = await a_clinic(client, session)
    officer, far_officer = await make_user(session, name="市监局"), await make_user(session)
    regulator = await make_org(session, "regulator", owner=officer, name="上海市卫健委")
    far = await make_org(
        session, "regulator", owner=far_officer, province_code="330000", name="浙江省卫健委"
    )
    near = bearer(await make_token(session, officer, organisation=regulator))
    elsewhere = bearer(await make_token(session, far_officer, organisation=far))

    # The patient and the treating organisation.
    mine = await client.get(f"{API}/prescriptions", headers=patient.headers)
    assert [p["id"] for p in mine.json()] == [prescription["id"]]
    export = (await client.get("/api/v1/privacy/export", headers=patient.headers)).json()
    section = export["sections"]["services"]
    assert [p["id"] for p in section["prescriptions"]] == [prescription["id"]]
    assert [r["condition"] for r in section["consultation_records"]] == [DIAGNOSIS["condition"]]
    record = await client.get(consultation(booking), headers=clinic.pharmacist.headers)
    assert record.json()["institution"] == DIAGNOSIS["institution"]
    # Another resident sees none of it; another organisation gets 404 and changes nothing.
    assert (await client.get(f"{API}/prescriptions", headers=neighbour.headers)).json() == []
    assert (await client.get(f"{API}/consultations", headers=neighbour.headers)).json() == []
    assert (
        await client.get(f"{API}/bookings/{booking['id']}", headers=neighbour.headers)
    ).status_code == 404
    assert (
        await client.get(consultation(booking), headers=other.provider.headers)
    ).status_code == 404
    for action, body in (
        ("/accept", None),
        ("/reject", {"reason": "x"}),
        ("/prescriptions", ORDINARY),
    ):
        attempt = await client.post(
            consultation(booking, action), json=body, headers=other.doctor.headers
        )
        assert attempt.status_code == 404, attempt.text
    foreign = await client.get(f"{API}/provider/prescriptions", headers=other.pharmacist.headers)
    assert foreign.json() == []
    # Residents and organisations are not regulators.
    for headers in (patient.headers, clinic.provider.headers):
        view = await client.get(f"{API}/regulator/prescriptions", headers=headers)
        assert view.status_code == 403
    # The regulator of the clinic's region sees it; the one of another region does not.
    seen = await client.get(f"{API}/regulator/prescriptions", headers=near)
    assert [p["id"] for p in seen.json()] == [prescription["id"]]
    visits = await client.get(f"{API}/regulator/consultations", headers=near)
    assert [r["booking_id"] for r in visits.json()] == [booking["id"]]
    assert (await client.get(f"{API}/regulator/prescriptions", headers=elsewhere)).json() == []
    assert (await client.get(f"{API}/regulator/consultations", headers=elsewhere)).json() == []
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as near_page,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as far_page,
    ):
        await login(near_page, officer, organisation=regulator)
        await login(far_page, far_officer, organisation=far)
        page = await near_page.get("/regulator/medical", headers={"Accept-Language": "zh-CN"})
        assert "辖区内的互联网诊疗" in page.text
        assert f'data-prescription="{prescription["id"]}"' in page.text
        assert DIAGNOSIS["condition"] in page.text
        far_view = await far_page.get("/regulator/medical")
        assert "data-prescription=" not in far_view.text
        assert DIAGNOSIS["condition"] not in far_view.text
    # The scan: through the consultation only, to the same three; never through /files.
    document = f"{API}/consultations/{booking['id']}/document"
    for headers in (patient.headers, clinic.pharmacist.headers, near):
        shown = await client.get(document, headers=headers)
        assert (shown.status_code, shown.content) == (200, SCAN)
    for headers in (neighbour.headers, other.provider.headers, elsewhere):
        assert (await client.get(document, headers=headers)).status_code == 404
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await login(browser, patient.user)
        assert (await browser.get(f"/files/{file_id}")).status_code == 404
    slot = await a_slot(
        client,
        other.provider,
        other.doctor_id,
        day=MONDAY + timedelta(days=1),
        kind="consultation",
        capacity=1,
    )
    borrowed = await book(client, neighbour, slot["id"], {**DIAGNOSIS, "file_id": file_id})
    assert code(borrowed) == (422, "file_not_yours")
    # A regulator changes nothing: it is not a member of the clinic.
    approve = f"{API}/provider/prescriptions/{prescription['id']}/approve"
    assert (await client.post(approve, headers=near)).status_code == 403
    async with app.state.sessionmaker() as s:
        assert (await s.get(Prescription, prescription["id"])).status == "pending_review"

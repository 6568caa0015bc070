"""The supervision rules of online services, with the clock and through the services' own API:
`supervision.prescription_unreviewed` (the daily sweep counts a prescription still pending the
pharmacist's review `max_hours` after it was signed, once, per clinic; an approval that is not
a pharmacist's review raises a graver alert at once) and `supervision.prepaid_over_limit` (a
course enrolment paid beyond the prepaid limits in force for the school's region at payment
time). Alerts go to the regulator of the provider's region, never to another region's; a
supervisor edits the parameters within their bounds; the console shows both rules in both
languages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.config import Settings
from linli.jobs import SupervisionSweep
from linli.rules.models import RuleVersion
from linli.services.models import Enrolment, Prescription
from linli.supervision import rule_defaults as R
from linli.supervision import rule_handlers
from linli.supervision.alert_models import Alert
from tests.factories import form_login
from tests.groupbuy.helpers import pay
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
    people,
)
from tests.supervision.helpers import MINHANG, PUDONG, a_supervision, region

ALERTS = "/api/v1/supervision/alerts"
RULES = "/api/v1/supervision/rules"
ORDINARY = {
    "drug_name": "二甲双胍缓释片",
    "drug_class": "ordinary",
    "dosage": "0.5 g, twice a day",
    "quantity": 1,
    "unit": "盒",
}


async def in_region(session: AsyncSession, provider: Provider, district: str) -> None:
    for name, code in region(district).items():
        setattr(provider.organisation, name, code)
    await session.commit()


async def sweep(app: FastAPI) -> None:
    """The daily supervision sweep, run at the clock's time."""
    async with app.state.sessionmaker() as s:
        await rule_handlers.sweep(s, SupervisionSweep())
        await s.commit()


async def alerts_of(app: FastAPI, rule_id: str) -> list[Alert]:
    async with app.state.sessionmaker() as s:
        return list(await s.scalars(select(Alert).where(Alert.rule_id == rule_id)))


async def queue(client: httpx.AsyncClient, headers: dict[str, str], rule_id: str) -> list[Any]:
    listed = await client.get(ALERTS, params={"rule_id": rule_id}, headers=headers)
    assert listed.status_code == 200, listed.text
    return list(listed.json())


# --- prescriptions --------------------------------------------------------------------------


@dataclass
class Clinic:
    provider: Provider
    doctor_id: int
    doctor: Person
    pharmacist: Person


async def a_clinic(client: httpx.AsyncClient, session: AsyncSession, district: str) -> Clinic:
    provider = await a_provider(session, licences=("medical_institution",), name="邻里社区医院")
    await in_region(session, provider, district)
    doctor_id, doctor = await a_practitioner(client, session, provider, "doctor", name="李医生")
    _, pharmacist = await a_practitioner(client, session, provider, "pharmacist", name="赵药师")
    return Clinic(provider, doctor_id, doctor, pharmacist)


async def in_consultation(
    client: httpx.AsyncClient,
    clinic: Clinic,
    patient: Person,
    frozen_clock: FrozenClock,
    day: date = MONDAY,
) -> str:
    """A follow-up on `day` at 09:00, its document accepted, the patient checked in, the clock
    five minutes into it: the URL the doctor prescribes at."""
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
    booked = await book(client, patient, slot["id"], DIAGNOSIS)
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    base = f"{API}/provider/consultations/{booking['id']}"
    accepted = await client.post(f"{base}/accept", headers=clinic.doctor.headers)
    assert accepted.status_code == 200, accepted.text
    starts = datetime.fromisoformat(booking["starts_at"])
    frozen_clock.set(starts - timedelta(minutes=10))
    await confirm_identity(client, clinic.doctor, slot["id"])
    checked = await client.post(
        f"{API}/provider/bookings/{booking['id']}/check-in", headers=clinic.provider.headers
    )
    assert checked.status_code == 200, checked.text
    frozen_clock.set(starts + timedelta(minutes=5))
    return f"{base}/prescriptions"


async def prescribe(client: httpx.AsyncClient, clinic: Clinic, url: str, drug: str) -> int:
    written = await client.post(
        url, json={**ORDINARY, "drug_name": drug}, headers=clinic.doctor.headers
    )
    assert written.status_code == 201, written.text
    return int(written.json()["id"])


async def test_a_prescription_left_unreviewed_past_max_hours_alerts_the_clinics_regulator_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    s = await a_supervision(session, inspectors=1, merchants=0)
    clinic = await a_clinic(client, session, PUDONG)
    (patient,) = await people(session, 1)
    url = await in_consultation(client, clinic, patient, frozen_clock)
    signed = clock.now()
    reviewed = await prescribe(client, clinic, url, "二甲双胍缓释片")
    forgotten = await prescribe(client, clinic, url, "阿卡波糖片")
    approved = await client.post(
        f"{API}/provider/prescriptions/{reviewed}/approve", headers=clinic.pharmacist.headers
    )
    assert approved.status_code == 200, approved.text

    # Up to max_hours (24) after signing, and at exactly 24 hours, nothing.
    for after in (timedelta(hours=23), timedelta(hours=24)):
        frozen_clock.set(signed + after)
        await sweep(app)
        assert await alerts_of(app, R.PRESCRIPTION_UNREVIEWED) == []
    # Just over: the forgotten one (expired unreviewed), not the one reviewed in time.
    frozen_clock.set(signed + timedelta(hours=24, minutes=1))
    await sweep(app)
    (alert,) = await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)
    assert alert.regulator_organisation_id == s.regulator.id
    assert alert.organisation_id == clinic.provider.organisation.id
    assert (alert.severity, alert.rule_version, alert.count) == ("medium", 1, 1)
    assert alert.evidence == [
        {"type": "prescription_unreviewed", "ref": f"prescription:{forgotten}"}
    ]
    assert alert.inputs["prescription_id"] == forgotten
    assert alert.inputs["max_hours"] == 24
    # Counted once: the next days' sweeps add nothing.
    for days in (1, 2):
        frozen_clock.set(signed + timedelta(days=days, hours=1))
        await sweep(app)
    (again,) = await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)
    assert (again.id, again.count, again.inputs["count"]) == (alert.id, 1, 1)

    # The clinic's regulator sees it; another region's regulator does not.
    listed = await queue(client, s.supervisor.headers, R.PRESCRIPTION_UNREVIEWED)
    assert [a["id"] for a in listed] == [alert.id]
    assert await queue(client, s.far_supervisor.headers, R.PRESCRIPTION_UNREVIEWED) == []
    assert (
        await client.get(f"{ALERTS}/{alert.id}", headers=s.far_supervisor.headers)
    ).status_code == 404


async def test_an_approval_that_is_no_pharmacists_review_raises_a_graver_alert_at_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    s = await a_supervision(session, inspectors=1, merchants=0)
    clinic = await a_clinic(client, session, PUDONG)
    (patient,) = await people(session, 1)
    url = await in_consultation(client, clinic, patient, frozen_clock)
    proper = await prescribe(client, clinic, url, "二甲双胍缓释片")
    behind = await prescribe(client, clinic, url, "阿卡波糖片")
    approved = await client.post(
        f"{API}/provider/prescriptions/{proper}/approve", headers=clinic.pharmacist.headers
    )
    assert approved.status_code == 200, approved.text
    # Approved behind the services' checks: "reviewed" by its own prescriber, dispensable.
    async with app.state.sessionmaker() as db:
        await db.execute(
            update(Prescription)
            .where(Prescription.id == behind)
            .values(
                status="approved",
                reviewed_by_user_id=clinic.doctor.user.id,
                reviewed_at=clock.now(),
            )
        )
        await db.commit()
    frozen_clock.advance(timedelta(hours=1))
    await sweep(app)
    (alert,) = await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)
    assert alert.subject == f"prescription:{behind}"
    assert alert.severity == "high"  # one step above the rule's medium
    assert alert.inputs["why"] == "reviewed_by_prescriber"
    assert alert.regulator_organisation_id == s.regulator.id
    assert [e["prescription_id"] for e in alert.evidence] == [behind]
    frozen_clock.advance(timedelta(days=1))
    await sweep(app)
    (same,) = await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)
    assert (same.id, same.count) == (alert.id, 1)
    assert await queue(client, s.far_supervisor.headers, R.PRESCRIPTION_UNREVIEWED) == []


async def test_a_supervisor_edits_max_hours_within_bounds_and_the_sweep_reads_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    s = await a_supervision(session, inspectors=1, merchants=0)
    rule = f"{RULES}/{R.PRESCRIPTION_UNREVIEWED}"
    for params, field in (
        ({"max_hours": 0}, "max_hours"),
        ({"max_hours": 721}, "max_hours"),
        ({"max_hours": 1.5}, "max_hours"),
        ({"window_days": 367}, "window_days"),
        ({"min_count": 0}, "min_count"),
        ({"max_minutes": 5}, "max_minutes"),
    ):
        refused = await client.post(
            rule, json={"params": params, "reason": "试"}, headers=s.supervisor.headers
        )
        assert refused.status_code == 422, (params, refused.text)
        assert field in refused.json()["error"]["fields"], refused.text
    inspector = await client.post(
        rule, json={"params": {"max_hours": 48}, "reason": "试"}, headers=s.inspectors[0].headers
    )
    assert inspector.status_code == 403
    edited = await client.post(
        rule,
        json={"params": {"max_hours": 48}, "reason": "辖区药师人手不足，放宽至48小时"},
        headers=s.supervisor.headers,
    )
    assert edited.status_code == 201, edited.text
    assert (edited.json()["jurisdiction"], edited.json()["params"]) == (
        PUDONG,
        {"max_hours": 48, "window_days": 30, "min_count": 1},
    )
    prepaid = await client.post(
        f"{RULES}/{R.PREPAID_OVER_LIMIT}",
        json={"params": {"min_count": 2, "window_days": 0}, "reason": "试"},
        headers=s.supervisor.headers,
    )
    assert prepaid.status_code == 422
    assert list(prepaid.json()["error"]["fields"]) == ["window_days"]

    clinic = await a_clinic(client, session, PUDONG)
    far_clinic = await a_clinic(client, session, MINHANG)
    patient, other = await people(session, 2)
    far_url = await in_consultation(client, far_clinic, other, frozen_clock)
    await prescribe(client, far_clinic, far_url, "阿卡波糖片")
    url = await in_consultation(client, clinic, patient, frozen_clock, MONDAY + timedelta(days=1))
    signed = clock.now()  # a day after the other
    await prescribe(client, clinic, url, "阿卡波糖片")
    frozen_clock.set(signed + timedelta(hours=30))
    await sweep(app)
    # Pudong allows 48 hours now; Minhang keeps the national 24 and alerts its own regulator.
    (far_alert,) = await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)
    assert far_alert.organisation_id == far_clinic.provider.organisation.id
    assert far_alert.regulator_organisation_id == s.far_regulator.id
    frozen_clock.set(signed + timedelta(hours=48, minutes=1))
    await sweep(app)
    near = [
        a
        for a in await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)
        if a.organisation_id == clinic.provider.organisation.id
    ]
    assert [(a.rule_jurisdiction, a.rule_version, a.inputs["max_hours"]) for a in near] == [
        (PUDONG, 1, 48)
    ]
    assert near[0].regulator_organisation_id == s.regulator.id


# --- prepaid training fees ----------------------------------------------------------------

WEDNESDAY, LAST_WEDNESDAY = date(2026, 12, 2), date(2026, 12, 30)  # five Wednesdays


async def a_course(
    client: httpx.AsyncClient, session: AsyncSession, district: str, price_per_class: int
) -> tuple[Provider, int]:
    """A school registered in `district` with a course of five Wednesday classes of an hour
    (non-subject training)."""
    school = await a_provider(session, licences=("training_school",), name="邻里艺术培训")
    await in_region(session, school, district)
    teacher, _ = await a_practitioner(client, session, school, "teacher")
    added = await client.post(
        f"{API}/provider/practitioners/{teacher}/schedule",
        json={
            "title": "少儿美术",
            "weekday": WEDNESDAY.weekday(),
            "start": "16:00",
            "duration_minutes": 60,
            "kind": "class",
            "capacity": 5,
        },
        headers=school.headers,
    )
    assert added.status_code == 201, added.text
    made = await client.post(
        f"{API}/provider/practitioners/{teacher}/slots",
        json={"first_day": WEDNESDAY.isoformat(), "last_day": LAST_WEDNESDAY.isoformat()},
        headers=school.headers,
    )
    assert made.status_code == 201, made.text
    course = await client.post(
        f"{API}/provider/courses",
        json={
            "title": "少儿美术",
            "weekly_slot_id": added.json()["id"],
            "first_day": WEDNESDAY.isoformat(),
            "last_day": LAST_WEDNESDAY.isoformat(),
            "price_per_class_fen": price_per_class,
        },
        headers=school.headers,
    )
    assert course.status_code == 201, course.text
    return school, int(course.json()["id"])


async def enrol(client: httpx.AsyncClient, pupil: Person, course_id: int) -> httpx.Response:
    return await client.post(f"{API}/courses/{course_id}/enrol", headers=pupil.headers)


async def paid(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, enrolled: httpx.Response
) -> None:
    body = enrolled.json()
    await pay(
        client,
        settings,
        {"public_id": body["payment_public_id"], "amount_fen": body["enrolment"]["amount_fen"]},
    )
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        enrolment = await s.get(Enrolment, body["enrolment"]["id"])
        assert enrolment is not None
        assert enrolment.status == "paid"


async def tighten(session: AsyncSession, jurisdiction: str, **values: int) -> None:
    """The region's own version of the prepaid rule, in force from now."""
    session.add(
        RuleVersion(
            rule_id="services.training_prepaid",
            version=2,
            jurisdiction=jurisdiction,
            title="上海市校外培训预收费管理",
            legal_basis="local rule",
            effective_from=clock.now(),
            effective_to=None,
            values={"max_months": 3, "max_class_hours": 60, "max_fen_non_subject": 500000} | values,
            created_at=clock.now(),
        )
    )
    await session.commit()


async def test_a_collection_paid_beyond_a_tightened_local_limit_alerts_the_schools_regulator(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    s = await a_supervision(session, inspectors=1, merchants=0)
    school, course = await a_course(client, session, PUDONG, 80_000)  # ¥4,000 in one go
    far_school, far_course = await a_course(client, session, MINHANG, 80_000)
    within, late, refused, far_pupil = await people(session, 4)

    # Within the national limits (¥5,000): paid, nothing raised.
    first = await enrol(client, within, course)
    assert first.status_code == 201, first.text
    await paid(app, client, settings, first)
    assert await alerts_of(app, R.PREPAID_OVER_LIMIT) == []

    # Enrolled under the national limits; Pudong tightens to ¥3,000 before the payment
    # arrives: the paid collection is beyond the limit in force at payment time.
    second = await enrol(client, late, course)
    far = await enrol(client, far_pupil, far_course)
    assert second.status_code == far.status_code == 201
    frozen_clock.advance(timedelta(minutes=5))
    await tighten(session, PUDONG, max_fen_non_subject=300_000)
    frozen_clock.advance(timedelta(minutes=5))
    await paid(app, client, settings, second)
    (alert,) = await alerts_of(app, R.PREPAID_OVER_LIMIT)
    assert alert.organisation_id == school.organisation.id
    assert alert.regulator_organisation_id == s.regulator.id
    assert (alert.severity, alert.subject) == ("high", "merchant")
    assert alert.evidence == [
        {"type": "prepaid_over_limit", "ref": f"enrolment:{second.json()['enrolment']['id']}"}
    ]
    assert alert.inputs["breaches"] == ["prepaid_over_amount"]
    assert alert.inputs["amount_fen"] == 400_000
    assert alert.inputs["limits"]["max_fen_non_subject"] == 300_000
    assert alert.inputs["limits_rule"] == "services.training_prepaid@310115#2"
    assert (alert.inputs["first_day"], alert.inputs["last_day"]) == (
        WEDNESDAY.isoformat(),
        LAST_WEDNESDAY.isoformat(),
    )

    # Minhang's school (the same city), paid at the same moment under the national limit:
    # nothing.
    await paid(app, client, settings, far)
    assert [a.id for a in await alerts_of(app, R.PREPAID_OVER_LIMIT)] == [alert.id]
    listed = await queue(client, s.supervisor.headers, R.PREPAID_OVER_LIMIT)
    assert [a["id"] for a in listed] == [alert.id]
    assert await queue(client, s.far_supervisor.headers, R.PREPAID_OVER_LIMIT) == []
    assert far_school.organisation.id != school.organisation.id

    # From now on the school's region's limit refuses such a collection when it is made.
    third = await enrol(client, refused, course)
    assert third.status_code == 422
    assert third.json()["error"]["code"] == "prepaid_over_amount"
    assert "3,000" in third.json()["error"]["message"]


async def test_the_console_shows_the_services_rules_and_their_alerts_in_both_languages(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    s = await a_supervision(session, inspectors=1, merchants=0)
    clinic = await a_clinic(client, session, PUDONG)
    (patient, pupil) = await people(session, 2)
    url = await in_consultation(client, clinic, patient, frozen_clock)
    await prescribe(client, clinic, url, "阿卡波糖片")
    _, course = await a_course(client, session, PUDONG, 80_000)
    enrolled = await enrol(client, pupil, course)
    await tighten(session, PUDONG, max_fen_non_subject=300_000)
    await paid(app, client, settings, enrolled)
    frozen_clock.advance(timedelta(hours=25))
    await sweep(app)
    raised = {a.rule_id: a for a in await alerts_of(app, R.PRESCRIPTION_UNREVIEWED)}
    raised |= {a.rule_id: a for a in await alerts_of(app, R.PREPAID_OVER_LIMIT)}
    assert set(raised) == {R.PRESCRIPTION_UNREVIEWED, R.PREPAID_OVER_LIMIT}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as page:
        csrf = await form_login(page, s.supervisor.user.phone)
        chosen = await page.put(
            "/api/v1/accounts/me/active-organisation",
            json={"organisation_id": s.regulator.id},
            headers={"X-CSRF-Token": csrf},
        )
        assert chosen.status_code == 200, chosen.text
        for language, unreviewed, prepaid in (
            ("en", "Online prescriptions not reviewed by a pharmacist", "Prepaid training fees"),
            ("zh-CN", "网络处方未经药师审核", "超限收取培训预付费"),
        ):
            headers = {"Accept-Language": language}
            rules = await page.get("/regulator/supervision-rules", headers=headers)
            assert rules.status_code == 200, rules.text
            for rule_id in (R.PRESCRIPTION_UNREVIEWED, R.PREPAID_OVER_LIMIT):
                assert f'data-rule="{rule_id}"' in rules.text
            assert unreviewed in rules.text
            assert prepaid in rules.text
            assert "max_hours" in rules.text
            queue_page = await page.get("/regulator/alerts", headers=headers)
            assert queue_page.status_code == 200
            for alert in raised.values():
                assert f'data-alert="{alert.id}"' in queue_page.text
            assert unreviewed in queue_page.text
            assert prepaid in queue_page.text
            risk = await page.get(
                f"/regulator/merchants/{clinic.provider.organisation.id}/risk", headers=headers
            )
            assert risk.status_code == 200
            assert unreviewed in risk.text
        form = f"/regulator/supervision-rules/{R.PRESCRIPTION_UNREVIEWED}"
        too_long = await page.post(
            form, data={"csrf_token": csrf, "max_hours": "1000", "reason": "试行"}
        )
        assert too_long.status_code == 422
        saved = await page.post(
            form, data={"csrf_token": csrf, "max_hours": "36", "reason": "试行"}
        )
        assert saved.status_code == 303, saved.text
    (version,) = [
        r
        for r in (await client.get(RULES, headers=s.supervisor.headers)).json()
        if r["rule_id"] == R.PRESCRIPTION_UNREVIEWED and r["jurisdiction"] == PUDONG
    ]
    assert version["params"]["max_hours"] == 36

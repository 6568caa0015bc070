"""Online services in headless Chromium against a served instance, each person in a browser of
their own:

- a follow-up consultation: the resident books it with the diagnosis document (the hospital,
  the date, the condition and a scan), the doctor accepts the document, checks the patient in
  and signs a prescription, the clinic's pharmacist approves it, and the resident sees it
  approved and dispensable;
- a course: the resident enrols and pays, the teacher checks the resident in at the first
  class and marks it given (its fee leaves escrow), and the resident has the classes not
  given refunded.

Arranged directly (onboarding and the schedule API are tested elsewhere): a verified provider
holding a medical institution's and a training school's licence, its doctor, pharmacist and
teacher registered through the API, a patient and a learner. Slots are made on working days only:
whatever day the suite runs on, the operator's calendar override makes the days of these
sessions working days. The first class is scheduled a few minutes ahead (weekly schedules are
kept to the minute), so the resident enrols in all four classes and the teacher checks the
learner in; then, instead of waiting for it in real time, the test moves that class's start to
the moment just past on the served instance's database (its slot and booking), and the teacher
marks it given.
"""

from __future__ import annotations

import re
import time as wall
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor, OrganisationRef, UserRef
from linli.rules import service as rules
from linli.rules import workday_overrides, workdays
from linli.rules.schemas import OverrideIn
from linli.rules.workdays import DayKind, local_date
from linli.services.models import Booking, Slot
from linli.services.room import credential_tail
from tests.browser import BROWSER_MARKS, People, act_for, log_in, on_server, people_of
from tests.browser import browser as browser
from tests.factories import PASSWORD, make_org, make_user, png_bytes
from tests.live import LiveServer, serve_live
from tests.services.helpers import API, a_practitioner, a_provider

CLINIC = "邻里健康学堂"
PATIENT_PHONE = "13812345621"
LEARNER_PHONE = "13812345622"
CLASS_TITLE = "成人太极入门"
CLASSES = 4
PAYMENT_WAIT_S = 20.0

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("services"), "services") as served:
        yield served


@pytest.fixture(scope="module")
def arranged(server: LiveServer) -> dict[str, Any]:
    return on_server(server, arrange)


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


async def make_working_days(session: AsyncSession, days: set[date]) -> None:
    """The operator declares each of `days` that is not a working day one (an override)."""
    user = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=user, role="operator")
    operator = Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(platform),
        roles=frozenset({"operator"}),
    )
    for day in sorted(days):
        if (await workdays.load(session)).is_working_day(day):
            continue
        version = (await rules.in_force(session, workdays.CALENDAR_RULE)).version
        await workday_overrides.set_override(
            session,
            operator,
            OverrideIn(day=day, kind=DayKind.WORKING_DAY, reason="浏览器测试", version=version),
        )
    await session.commit()


def next_whole_minute(moment: datetime, at_least: timedelta) -> datetime:
    later = moment + at_least
    return later.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def arrange(session: AsyncSession, client: httpx.AsyncClient) -> dict[str, Any]:
    """The provider and its practitioners; a consultation in ten minutes; a weekly class whose
    first comes at a whole minute five to six minutes from now and three more a week apart."""
    now = clock.now().astimezone(clock.LOCAL)
    visit_at = next_whole_minute(now, timedelta(minutes=10))
    class_at = next_whole_minute(now, timedelta(minutes=5))
    class_days = [local_date(class_at) + timedelta(weeks=n) for n in range(CLASSES)]
    await make_working_days(session, {local_date(visit_at), *class_days})

    provider = await a_provider(session, name=CLINIC)
    doctor, doctor_person = await a_practitioner(client, session, provider, "doctor", name="周医生")
    _, pharmacist = await a_practitioner(client, session, provider, "pharmacist", name="吴药师")
    teacher, teacher_person = await a_practitioner(client, session, provider, name="林老师")
    await make_user(session, phone=PATIENT_PHONE, name="王阿姨")
    await make_user(session, phone=LEARNER_PHONE, name="陈先生")

    async def post(path: str, body: dict[str, Any]) -> Any:
        answer = await client.post(f"{API}{path}", json=body, headers=provider.headers)
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def weekly(practitioner: int, moment: datetime, body: dict[str, Any]) -> int:
        week = await post(
            f"/provider/practitioners/{practitioner}/schedule",
            body | {"weekday": moment.weekday(), "start": f"{moment:%H:%M}"},
        )
        return int(week["id"])

    await weekly(
        doctor,
        visit_at,
        {"title": "慢病复诊", "duration_minutes": 20, "kind": "consultation", "capacity": 1},
    )
    day = local_date(visit_at).isoformat()
    (visit,) = await post(
        f"/provider/practitioners/{doctor}/slots", {"first_day": day, "last_day": day}
    )
    lessons = await weekly(
        teacher,
        class_at,
        {
            "title": CLASS_TITLE,
            "duration_minutes": 30,
            "kind": "class",
            "mode": "offline",
            "capacity": 5,
        },
    )
    first, last = class_days[0].isoformat(), class_days[-1].isoformat()
    classes = await post(
        f"/provider/practitioners/{teacher}/slots", {"first_day": first, "last_day": last}
    )
    first_class = min(classes, key=lambda slot: datetime.fromisoformat(slot["starts_at"]))
    course = await post(
        "/provider/courses",
        {
            "title": CLASS_TITLE,
            "weekly_slot_id": lessons,
            "first_day": first,
            "last_day": last,
            "price_per_class_fen": 8000,
        },
    )
    assert course["classes"] == CLASSES, course
    return {
        "visit": visit["id"],
        "course": course["id"],
        "first_class": first_class["id"],
        "doctor": doctor_person.user.phone,
        "pharmacist": pharmacist.user.phone,
        "teacher": teacher_person.user.phone,
        "doctor_last4": credential_tail(f"DOC-{doctor_person.user.id}"),
        "teacher_last4": credential_tail(f"TEA-{teacher_person.user.id}"),
    }


def confirm_identity(page: Page, base: str, title: str, name: str, last4: str) -> None:
    """The practitioner's real-name check before their session (check-in needs it)."""
    page.goto(f"{base}/services/desk/identity")
    session = page.locator("article[data-identity-slot]", has_text=title)
    session.locator('input[name="real_name"]').fill(name)
    session.locator('input[name="credential_last4"]').fill(last4)
    session.get_by_role("button", name="Confirm my identity").click()
    expect(page.locator(".flash[role=status]")).to_have_text("Identity confirmed for this session.")
    expect(session.locator("[data-identity]")).to_have_attribute("data-identity", "confirmed")


def staff_page(people: People, who: str, base: str, phone: str) -> Page:
    page = people.page_of(who)
    log_in(page, base, phone, PASSWORD)
    act_for(page, base, CLINIC)
    return page


def test_a_follow_up_is_booked_with_its_document_prescribed_approved_and_seen(
    server: LiveServer, arranged: dict[str, Any], people: People
) -> None:
    base = server.url
    resident = people.page_of("patient")
    log_in(resident, base, PATIENT_PHONE, PASSWORD)
    resident.goto(f"{base}/services")
    visit = resident.locator(f'article[data-slot="{arranged["visit"]}"]')
    visit.locator('input[name="institution"]').fill("上海市第六人民医院")
    visit.locator('input[name="diagnosed_on"]').fill("2026-10-12")
    visit.locator('input[name="condition"]').fill("2型糖尿病")
    visit.locator('input[name="scan"]').set_input_files(
        {"name": "出院小结.png", "mimeType": "image/png", "buffer": png_bytes(60, 40)}
    )
    visit.get_by_role("button", name="Book").click()
    expect(resident.locator(".flash")).to_have_text("Booked: see you there.")

    doctor = staff_page(people, "doctor", base, arranged["doctor"])
    doctor.goto(f"{base}/services/desk")
    booking = doctor.locator("article[data-booking]", has_text="慢病复诊")
    booking.get_by_role("link", name="Consultation").click()
    expect(doctor.locator("[data-document]")).to_have_attribute("data-document", "submitted")
    expect(doctor.get_by_role("link", name="The scan")).to_be_visible()
    doctor.get_by_role("button", name="Accept: a follow-up of this diagnosis").click()
    expect(doctor.locator("[data-document]")).to_have_attribute("data-document", "accepted")
    confirm_identity(doctor, base, "慢病复诊", "周医生", arranged["doctor_last4"])
    doctor.goto(f"{base}/services/desk")
    booking.get_by_role("button", name="Check in").click()
    expect(booking.locator("[data-status]")).to_have_attribute("data-status", "checked_in")
    booking.get_by_role("link", name="Consultation").click()
    doctor.locator('input[name="drug_name"]').fill("二甲双胍缓释片")
    doctor.locator('input[name="dosage"]').fill("0.5 g 每日两次，随餐")
    doctor.locator('input[name="quantity"]').fill("60")
    doctor.locator('input[name="unit"]').fill("片")
    doctor.get_by_role("button", name="Sign the prescription").click()
    written = doctor.locator("li[data-prescription]", has_text="二甲双胍缓释片")
    expect(written.locator("[data-state]")).to_have_attribute("data-state", "pending_review")

    resident.goto(f"{base}/services/prescriptions")
    mine = resident.locator("article[data-prescription]", has_text="二甲双胍缓释片")
    expect(mine.locator("[data-state]")).to_have_attribute("data-state", "pending_review")
    expect(mine.locator("[data-dispensable]")).to_have_count(0)  # nothing before the review

    pharmacist = staff_page(people, "pharmacist", base, arranged["pharmacist"])
    pharmacist.goto(f"{base}/services/desk/prescriptions")
    queued = pharmacist.locator("article[data-prescription]", has_text="二甲双胍缓释片")
    expect(queued.locator("[data-state]")).to_have_attribute("data-state", "pending_review")
    queued.get_by_role("button", name="Approve").click()
    expect(pharmacist.locator(".flash[role=status]")).to_have_text("Prescription approved.")
    expect(queued).to_have_count(0)  # reviewed: out of the queue

    resident.reload()
    expect(mine.locator("[data-state]")).to_have_attribute("data-state", "approved")
    expect(mine.locator("[data-dispensable]")).to_have_text("May be dispensed")
    record = resident.locator("li[data-record]", has_text="2型糖尿病")
    expect(record).to_contain_text("上海市第六人民医院")


async def start_now(session: AsyncSession, slot_id: int) -> None:
    """The class of `slot_id` (its slot and its bookings) starts at the moment just past
    instead of minutes from now; it still ends when it did."""
    moment = clock.now() - timedelta(seconds=1)
    slot = await session.get(Slot, slot_id)
    assert slot is not None
    if slot.starts_at <= moment:
        return  # it began on its own (a very slow run)
    slot.starts_at = moment
    await session.execute(
        update(Booking).where(Booking.slot_id == slot_id).values(starts_at=moment)
    )


def wait_for_paid(page: Page, enrolment: str) -> None:
    """Reload until the enrolment shows paid (the sandbox calls back, the dispatcher applies
    it)."""
    deadline = wall.monotonic() + PAYMENT_WAIT_S
    status = page.locator(f"{enrolment} [data-status]")
    while status.get_attribute("data-status") != "paid" and wall.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(status).to_have_attribute("data-status", "paid")


def test_a_course_is_paid_attended_released_and_the_classes_not_given_refunded(
    server: LiveServer, arranged: dict[str, Any], people: People
) -> None:
    base = server.url
    resident = people.page_of("learner")
    log_in(resident, base, LEARNER_PHONE, PASSWORD)
    resident.goto(f"{base}/services/courses")
    course = resident.locator(f'article[data-course="{arranged["course"]}"]')
    expect(course).to_contain_text(f"{CLASSES} classes of 30 minutes")
    expect(course).to_contain_text("¥80.00 a class")
    course.get_by_role("button", name="Enrol and pay").click()
    expect(resident).to_have_url(re.compile(r"/pay/[0-9a-f-]+$"))
    expect(resident.locator("[data-amount]")).to_have_text("¥320.00")
    resident.get_by_role("button", name="Pay ¥320.00").click()
    expect(resident.locator(".flash[role=status]")).to_contain_text("Payment sent.")
    resident.goto(f"{base}/services/courses")
    enrolment = "article[data-enrolment]"
    wait_for_paid(resident, enrolment)
    expect(resident.locator(enrolment)).to_contain_text(f"{CLASSES} of {CLASSES} classes left")

    teacher = staff_page(people, "teacher", base, arranged["teacher"])
    confirm_identity(teacher, base, CLASS_TITLE, "林老师", arranged["teacher_last4"])
    teacher.goto(f"{base}/services/desk")
    lesson = teacher.locator("article[data-booking]", has_text=CLASS_TITLE)
    lesson.get_by_role("button", name="Check in").click()  # from 15 minutes before
    expect(lesson.locator("[data-status]")).to_have_attribute("data-status", "checked_in")
    # A class is marked given once it has started: it starts now rather than in minutes.
    on_server(server, lambda session, _: start_now(session, arranged["first_class"]))
    lesson.get_by_role("button", name="Completed").click()
    expect(lesson.locator("[data-status]")).to_have_attribute("data-status", "completed")

    resident.reload()
    left = CLASSES - 1
    expect(resident.locator(enrolment)).to_contain_text(f"{left} of {CLASSES} classes left")
    resident.get_by_role("button", name="Refund the classes not delivered").click()
    expect(resident.locator(".flash[role=status]")).to_be_visible()
    expect(resident.locator(enrolment)).to_contain_text(f"0 of {CLASSES} classes left")
    expect(resident.locator(enrolment)).to_contain_text(f"{left} refunded")
    expect(resident.get_by_role("button", name="Refund the classes not delivered")).to_have_count(0)

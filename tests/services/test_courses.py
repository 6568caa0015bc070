"""Online education: the prepaid limits refuse a collection, the fee sits in the school's
escrow account and is released one delivered class at a time (never for a class not
delivered), and the classes not delivered are refunded pro rata."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor, UserRef
from linli.clock import FrozenClock
from linli.config import Settings
from linli.errors import Conflict
from linli.notifications.models import Notification
from linli.payments import ledger, providers
from linli.payments import service as payments
from linli.payments.models import PaymentIntent
from linli.services import courses
from linli.services.models import Booking, Slot
from tests.factories import form_login
from tests.groupbuy.helpers import pay
from tests.services.helpers import (
    API,
    MONDAY,
    Provider,
    a_practitioner,
    a_provider,
    confirm_identity,
    count,
    people,
)


async def weekly(
    client: httpx.AsyncClient,
    provider: Provider,
    teacher: int,
    first: date,
    last: date,
    *,
    start: str = "09:00",
    minutes: int = 60,
    mode: str = "online",
) -> int:
    added = await client.post(
        f"{API}/provider/practitioners/{teacher}/schedule",
        json={
            "title": f"课{first.weekday()}",
            "weekday": first.weekday(),
            "start": start,
            "duration_minutes": minutes,
            "kind": "class",
            "capacity": 5,
            "mode": mode,
        },
        headers=provider.headers,
    )
    assert added.status_code == 201, added.text
    day = first
    while day <= last:
        end = min(last, day + timedelta(days=60))
        made = await client.post(
            f"{API}/provider/practitioners/{teacher}/slots",
            json={"first_day": day.isoformat(), "last_day": end.isoformat()},
            headers=provider.headers,
        )
        assert made.status_code == 201, made.text
        day = end + timedelta(days=1)
    return int(added.json()["id"])


def course_body(week: int, first: date, last: date, price: int, **extra: Any) -> dict[str, Any]:
    return {
        "title": "少儿编程",
        "weekly_slot_id": week,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "price_per_class_fen": price,
    } | extra


async def test_a_collection_over_the_prepaid_limits_is_refused(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    courses = f"{API}/provider/courses"

    monday_end = date(2027, 3, 29)
    mondays = await weekly(client, provider, teacher, MONDAY, monday_end)
    long = await client.post(
        courses, json=course_body(mondays, MONDAY, monday_end, 1000), headers=provider.headers
    )
    assert long.status_code == 422
    assert long.json()["error"]["code"] == "prepaid_too_long"
    assert "3 months" in long.json()["error"]["message"]

    tuesday, tuesday_end = date(2026, 12, 1), date(2027, 1, 26)
    full_days = await weekly(client, provider, teacher, tuesday, tuesday_end, minutes=480)
    hours = await client.post(
        courses,
        json=course_body(full_days, tuesday, tuesday_end, 1000),
        headers=provider.headers,
    )
    assert hours.json()["error"]["code"] == "prepaid_too_many_hours", hours.text
    assert "60 class hours" in hours.json()["error"]["message"]

    wednesday, wednesday_end = date(2026, 12, 2), date(2026, 12, 30)  # five Wednesdays
    lessons = await weekly(client, provider, teacher, wednesday, wednesday_end)
    dear = course_body(lessons, wednesday, wednesday_end, 120_000)  # ¥6,000 in one go
    refused = await client.post(courses, json=dear, headers=provider.headers)
    assert refused.json()["error"]["code"] == "prepaid_over_amount", refused.text
    assert "5,000" in refused.json()["error"]["message"]
    subject = await client.post(
        courses, json=dear | {"subject_training": True}, headers=provider.headers
    )
    assert subject.status_code == 201, subject.text  # the amount ceiling is for non-subject
    assert subject.json()["classes"] == 5


async def balance(app: FastAPI, code: str) -> int:
    async with app.state.sessionmaker() as s:
        return await ledger.balance(s, code)


async def test_escrow_is_released_per_delivered_class_and_the_rest_refunded(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """In person: the class is delivered when the client was checked in and the provider
    completed it (online classes also need their attendance: test_room.py)."""
    provider = await a_provider(session, licences=("training_school",))
    teacher, teacher_person = await a_practitioner(client, session, provider, "teacher")
    last = MONDAY + timedelta(days=21)  # four Mondays
    week = await weekly(
        client, provider, teacher, MONDAY, last, start="18:00", minutes=30, mode="offline"
    )
    course = await client.post(
        f"{API}/provider/courses",
        json=course_body(week, MONDAY, last, 10_000),
        headers=provider.headers,
    )
    assert course.status_code == 201, course.text
    (pupil,) = await people(session, 1)
    enrolled = await client.post(
        f"{API}/courses/{course.json()['id']}/enrol", headers=pupil.headers
    )
    assert enrolled.status_code == 201, enrolled.text
    enrolment = enrolled.json()["enrolment"]
    assert (enrolment["classes"], enrolment["amount_fen"]) == (4, 40_000)
    async with app.state.sessionmaker() as s:
        classes = list(
            await s.scalars(
                select(Booking)
                .where(Booking.enrolment_id == enrolment["id"])
                .order_by(Booking.starts_at)
            )
        )
    assert len(classes) == 4
    escrow = ledger.training_escrow(provider.organisation.id)
    payable = ledger.merchant_payable(provider.organisation.id)

    unpaid = await client.post(
        f"{API}/provider/bookings/{classes[0].id}/check-in", headers=provider.headers
    )
    assert unpaid.json()["error"]["code"] == "not_paid"
    await pay(
        client,
        settings,
        {"public_id": enrolled.json()["payment_public_id"], "amount_fen": 40_000},
    )
    await app.state.dispatcher.run_once()
    assert (await balance(app, escrow), await balance(app, payable)) == (-40_000, 0)
    async with app.state.sessionmaker() as s:  # one message for the course, none per class
        told = (await s.execute(select(Notification.kind, Notification.params))).all()
    about = [
        (kind, params.get("classes"))
        for kind, params in told
        if kind.startswith(("course", "service"))
    ]
    assert about == [("course_enrolled", 4)]

    first = classes[0]
    frozen_clock.set(first.starts_at + timedelta(minutes=1))
    unchecked = await client.post(
        f"{API}/provider/bookings/{first.id}/check-in", headers=provider.headers
    )
    assert unchecked.json()["error"]["code"] == "identity_unchecked", unchecked.text
    await confirm_identity(client, teacher_person, first.slot_id)
    checked = await client.post(
        f"{API}/provider/bookings/{first.id}/check-in", headers=provider.headers
    )
    assert checked.status_code == 200, checked.text
    assert await balance(app, escrow) == -40_000  # attending is not delivering yet
    done = await client.post(
        f"{API}/provider/bookings/{first.id}/complete", headers=provider.headers
    )
    assert done.status_code == 200, done.text
    again = await client.post(
        f"{API}/provider/bookings/{first.id}/complete", headers=provider.headers
    )
    assert again.status_code == 409
    assert (await balance(app, escrow), await balance(app, payable)) == (-30_000, -10_000)

    frozen_clock.set(classes[1].ends_at + timedelta(minutes=1))  # class 2: the pupil was absent
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        assert (await s.get(Booking, classes[1].id)).status == "no_show"
    assert await balance(app, escrow) == -30_000  # never released for a class not delivered

    refunded = await client.post(
        f"{API}/enrolments/{enrolment['id']}/refund", headers=pupil.headers
    )
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded_classes"] == 3
    assert (await balance(app, escrow), await balance(app, payable)) == (0, -10_000)
    async with app.state.sessionmaker() as s:
        intent = await s.scalar(
            select(PaymentIntent).where(
                PaymentIntent.public_id == enrolled.json()["payment_public_id"]
            )
        )
        assert intent is not None
        assert intent.refunded_fen == 30_000
        statuses = [(await s.get(Booking, b.id)).status for b in classes]
        assert statuses == ["completed", "no_show", "cancelled", "cancelled"]
        assert (await ledger.trial_balance(s)).total == 0
    twice = await client.post(f"{API}/enrolments/{enrolment['id']}/refund", headers=pupil.headers)
    assert twice.json()["error"]["code"] == "nothing_to_refund"
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:  # the refund told once, not per class cancelled
        told = (
            await s.execute(
                select(Notification.kind, Notification.params).where(
                    Notification.kind.in_(("service_cancelled", "course_closed"))
                )
            )
        ).all()
    assert [(kind, params["classes"], params["amount"]) for kind, params in told] == [
        ("course_closed", 3, "¥300.00")
    ]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await form_login(browser, pupil.user.phone)
        page = await browser.get("/services/courses", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200, page.text
        assert f'data-enrolment="{enrolment["id"]}"' in page.text
        assert (
            "3" in page.text.split(f'data-enrolment="{enrolment["id"]}"')[1].split("</article>")[0]
        )


async def test_an_unpaid_enrolment_gives_its_seats_back_when_its_window_ends(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    last = MONDAY + timedelta(days=7)  # two Mondays
    week = await weekly(client, provider, teacher, MONDAY, last, start="18:00", minutes=30)
    course = await client.post(
        f"{API}/provider/courses",
        json=course_body(week, MONDAY, last, 10_000),
        headers=provider.headers,
    )
    (pupil,) = await people(session, 1)
    url = f"{API}/courses/{course.json()['id']}/enrol"
    first = await client.post(url, headers=pupil.headers)
    assert first.status_code == 201, first.text
    assert (await client.post(url, headers=pupil.headers)).json()["error"]["code"] == (
        "already_enrolled"
    )
    frozen_clock.advance(timedelta(minutes=29))
    await app.state.dispatcher.run_once()
    assert await count(app, Booking, Booking.status == "scheduled") == 2
    frozen_clock.advance(timedelta(minutes=3))
    await app.state.dispatcher.run_once()
    assert await count(app, Booking, Booking.status == "cancelled") == 2
    async with app.state.sessionmaker() as s:
        assert set(await s.scalars(select(Slot.remaining).where(Slot.weekly_slot_id == week))) == {
            5
        }
        told = (
            await s.execute(
                select(Notification.kind, Notification.title, Notification.body).where(
                    Notification.kind.in_(("service_cancelled", "course_closed"))
                )
            )
        ).all()
    # One message for the course, not one per class.
    assert [(kind, title) for kind, title, _ in told] == [("course_closed", "Enrolment expired")]
    assert "not paid in time" in told[0][2]
    mine = await client.get(f"{API}/enrolments", headers=pupil.headers)
    assert [e["status"] for e in mine.json()] == ["expired"]
    again = await client.post(url, headers=pupil.headers)
    assert again.status_code == 201, again.text  # an expired enrolment may be made again


async def test_prepaid_training_fees_are_never_paid_on_credit(
    app: FastAPI, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """No training loans: a course's payment refuses the pay-later provider, whoever asks."""
    provider = await a_provider(session, licences=("training_school",))
    (pupil,) = await people(session, 1)
    actor = Actor(user=UserRef.of(pupil.user), roles=frozenset())
    assert providers.is_registered(providers.PAY_LATER)
    async with app.state.sessionmaker() as s:
        with pytest.raises(Conflict) as refused:
            await payments.create_intent(
                s,
                actor,
                payee_organisation_id=provider.organisation.id,
                purpose=courses.PURPOSE,
                reference="1",
                amount_fen=10_000,
                idempotency_key="course-on-credit",
                provider=providers.PAY_LATER,
            )
    assert refused.value.code == "credit_not_allowed"
    assert await count(app, PaymentIntent) == 0

"""Editing a course while enrolment is open (never fewer places than taken) and withdrawing it:
no new enrolments, every pupil's classes not given refunded pro rata from escrow (a released
class never), the classes to come cancelled, each pupil told once; an enrolment racing the
withdrawal is refunded or refused, never left behind (both databases)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit.models import CreditRecord
from linli.notifications.models import Notification
from linli.payments import ledger
from linli.payments.models import PaymentIntent
from linli.services.models import Booking, Enrolment, Slot
from tests.groupbuy.helpers import pay
from tests.services.helpers import (
    API,
    MONDAY,
    Person,
    Provider,
    a_practitioner,
    a_provider,
    confirm_identity,
    people,
)
from tests.services.test_courses import balance, course_body, weekly

LAST = MONDAY + timedelta(days=21)  # four Mondays


async def a_course(
    client: httpx.AsyncClient, session: AsyncSession
) -> tuple[Provider, Person, int, int]:
    """A school's course of four Monday classes (18:00, 30 minutes, in person) at ¥100."""
    provider = await a_provider(session, licences=("training_school",))
    teacher, teacher_person = await a_practitioner(client, session, provider, "teacher")
    week = await weekly(
        client, provider, teacher, MONDAY, LAST, start="18:00", minutes=30, mode="offline"
    )
    course = await client.post(
        f"{API}/provider/courses",
        json=course_body(week, MONDAY, LAST, 10_000),
        headers=provider.headers,
    )
    assert course.status_code == 201, course.text
    return provider, teacher_person, week, int(course.json()["id"])


async def enrol(
    client: httpx.AsyncClient, settings: Settings, pupil: Person, course: int, *, paid: bool
) -> dict[str, Any]:
    enrolled = await client.post(f"{API}/courses/{course}/enrol", headers=pupil.headers)
    assert enrolled.status_code == 201, enrolled.text
    if paid:
        amount = enrolled.json()["enrolment"]["amount_fen"]
        await pay(
            client,
            settings,
            {"public_id": enrolled.json()["payment_public_id"], "amount_fen": amount},
        )
    return dict(enrolled.json())


async def test_a_course_is_edited_while_open_never_below_the_places_taken(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider, _, week, course = await a_course(client, session)
    pupils = await people(session, 4)
    for pupil in pupils[:3]:
        await enrol(client, settings, pupil, course, paid=False)
    url = f"{API}/provider/courses/{course}"
    below = await client.patch(url, json={"capacity": 2}, headers=provider.headers)
    assert (below.status_code, below.json()["error"]["code"]) == (409, "capacity_below_taken")
    rival = await a_provider(session, licences=("training_school",), name="别家学堂")
    assert (await client.patch(url, json={"title": "x"}, headers=rival.headers)).status_code == 404
    assert (
        await client.patch(url, json={"capacity": 0}, headers=provider.headers)
    ).status_code == 422
    long = {"description": "长" * 2001}
    assert (await client.patch(url, json=long, headers=provider.headers)).status_code == 422
    edited = await client.patch(
        url,
        json={"capacity": 3, "title": "少儿编程（春季）", "description": "每周一节，带电脑。"},
        headers=provider.headers,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["description"]) == (
        "少儿编程（春季）",
        "每周一节，带电脑。",
    )
    async with app.state.sessionmaker() as s:
        seats = (
            await s.execute(
                select(Slot.capacity, Slot.remaining).where(Slot.weekly_slot_id == week)
            )
        ).all()
        assert seats == [(3, 0)] * 4
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "services.course.edited")
        )
        assert entry is not None
        assert entry.user_id == provider.owner.id
        assert entry.details["before"]["capacity"] == 5
        assert entry.details["after"]["capacity"] == 3
    full = await client.post(f"{API}/courses/{course}/enrol", headers=pupils[3].headers)
    assert (full.status_code, full.json()["error"]["code"]) == (409, "slot_full")
    public = await client.get(f"{API}/courses")
    assert [(c["title"], c["description"]) for c in public.json()] == [
        ("少儿编程（春季）", "每周一节，带电脑。")
    ]


async def test_withdrawing_a_course_refunds_each_pupils_classes_not_given_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider, teacher, _, course = await a_course(client, session)
    given, absent, unpaid, late = await people(session, 4)
    enrolled = {
        "given": await enrol(client, settings, given, course, paid=True),
        "absent": await enrol(client, settings, absent, course, paid=True),
    }
    await app.state.dispatcher.run_once()
    escrow = ledger.training_escrow(provider.organisation.id)
    payable = ledger.merchant_payable(provider.organisation.id)
    assert (await balance(app, escrow), await balance(app, payable)) == (-80_000, 0)

    async with app.state.sessionmaker() as s:
        first = await s.scalar(
            select(Booking)
            .where(Booking.enrolment_id == enrolled["given"]["enrolment"]["id"])
            .order_by(Booking.starts_at)
            .limit(1)
        )
    assert first is not None
    frozen_clock.set(first.starts_at + timedelta(minutes=1))
    await confirm_identity(client, teacher, first.slot_id)
    for step in ("check-in", "complete"):
        done = await client.post(
            f"{API}/provider/bookings/{first.id}/{step}", headers=provider.headers
        )
        assert done.status_code == 200, done.text
    frozen_clock.set(first.ends_at + timedelta(minutes=1))
    await app.state.dispatcher.run_once()  # the absent pupil's first class: a no-show
    assert (await balance(app, escrow), await balance(app, payable)) == (-70_000, -10_000)
    enrolled["unpaid"] = await enrol(client, settings, unpaid, course, paid=False)
    assert enrolled["unpaid"]["enrolment"]["classes"] == 3  # the classes still to come

    url = f"{API}/provider/courses/{course}/withdraw"
    rival = await a_provider(session, licences=("training_school",), name="别家学堂")
    assert (await client.post(url, json={"reason": "x"}, headers=rival.headers)).status_code == 404
    assert (
        await client.post(url, json={"reason": ""}, headers=provider.headers)
    ).status_code == 422
    withdrawn = await client.post(url, json={"reason": "老师离职"}, headers=provider.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert (
        body["refunded_enrolments"],
        body["refunded_classes"],
        body["refunded_fen"],
        body["closed_enrolments"],
    ) == (2, 7, 70_000, 1)
    assert body["course"]["status"] == "closed"
    assert body["course"]["withdraw_reason"] == "老师离职"
    # the released class stays paid to the school; the no-show's fee and the 3 classes to
    # come of each pupil go back: escrow empty, the books balanced
    assert (await balance(app, escrow), await balance(app, payable)) == (0, -10_000)
    async with app.state.sessionmaker() as s:
        assert (await ledger.trial_balance(s)).total == 0
        refunded = {
            name: (
                await s.scalar(
                    select(PaymentIntent.refunded_fen).where(
                        PaymentIntent.public_id == enrolled[name]["payment_public_id"]
                    )
                )
            )
            for name in ("given", "absent")
        }
        assert refunded == {"given": 30_000, "absent": 40_000}
        statuses = {
            name: (
                await s.scalars(
                    select(Booking.status)
                    .where(Booking.enrolment_id == enrolled[name]["enrolment"]["id"])
                    .order_by(Booking.starts_at)
                )
            ).all()
            for name in enrolled
        }
        assert statuses == {
            "given": ["completed", "cancelled", "cancelled", "cancelled"],
            "absent": ["no_show", "cancelled", "cancelled", "cancelled"],
            "unpaid": ["cancelled"] * 3,
        }
        unpaid_row = await s.get(Enrolment, enrolled["unpaid"]["enrolment"]["id"])
        assert unpaid_row is not None
        assert unpaid_row.status == "expired"
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "services.course.withdrawn")
        )
        assert entry is not None
        assert entry.user_id == provider.owner.id
        assert (entry.details["refunded_fen"], entry.details["reason"]) == (70_000, "老师离职")

    twice = await client.post(url, json={"reason": "再来"}, headers=provider.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_closed")
    again = await client.post(
        f"{API}/enrolments/{enrolled['given']['enrolment']['id']}/refund", headers=given.headers
    )
    assert again.json()["error"]["code"] == "nothing_to_refund"  # never refunded twice
    closed = await client.post(f"{API}/courses/{course}/enrol", headers=late.headers)
    assert closed.status_code == 404  # no new enrolments
    edit = await client.patch(
        f"{API}/provider/courses/{course}", json={"title": "x"}, headers=provider.headers
    )
    assert edit.json()["error"]["code"] == "enrolment_closed"

    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        told = (
            await s.execute(
                select(Notification.user_id, Notification.title, Notification.params)
                .where(Notification.kind.in_(("service_cancelled", "course_closed")))
                .order_by(Notification.id)
            )
        ).all()
        against = (
            await s.scalars(
                select(CreditRecord.kind).where(CreditRecord.subject_id == provider.organisation.id)
            )
        ).all()
    # each pupil told once, with what came back; no message per class cancelled
    assert [(user, title, params["classes"], params["amount"]) for user, title, params in told] == [
        (given.user.id, "Course withdrawn", 3, "¥300.00"),
        (absent.user.id, "Course withdrawn", 4, "¥400.00"),
        (unpaid.user.id, "Course withdrawn", 0, "¥0.00"),
    ]
    # each class the withdrawal cancelled counts against the school, as any provider cancel
    assert against == ["service_cancelled_by_provider"] * 9


async def test_an_enrolment_racing_a_withdrawal_is_closed_or_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider, _, week, course = await a_course(client, session)
    pupils = await people(session, 8)
    withdraw = client.post(
        f"{API}/provider/courses/{course}/withdraw",
        json={"reason": "停办"},
        headers=provider.headers,
    )
    enrolments = [client.post(f"{API}/courses/{course}/enrol", headers=p.headers) for p in pupils]
    answers = await asyncio.gather(*enrolments[:3], withdraw, *enrolments[3:])
    assert answers[3].status_code == 200, answers[3].text
    others = [a for i, a in enumerate(answers) if i != 3]
    refused = {(a.status_code, a.json()["error"]["code"]) for a in others if a.status_code != 201}
    assert refused <= {(404, "not_found"), (409, "slot_full")}, refused  # 5 places, 8 pupils
    made = [a.json()["enrolment"]["id"] for a in others if a.status_code == 201]
    assert answers[3].json()["closed_enrolments"] == len(made)
    async with app.state.sessionmaker() as s:
        statuses = (
            await s.scalars(select(Enrolment.status).where(Enrolment.course_id == course))
        ).all()
        assert statuses == ["expired"] * len(made)  # none left open on a withdrawn course
        live = (
            await s.scalars(
                select(Booking.id)
                .join(Slot, Slot.id == Booking.slot_id)
                .where(Slot.weekly_slot_id == week, Booking.status == "scheduled")
            )
        ).all()
        assert live == []
        seats = set(
            (
                await s.scalars(
                    select(Slot.remaining - Slot.capacity).where(Slot.weekly_slot_id == week)
                )
            ).all()
        )
        assert seats == {0}


async def test_a_pupils_refund_racing_the_withdrawal_is_never_paid_twice(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider, _, _, course = await a_course(client, session)
    pupils = await people(session, 3)
    enrolled = [await enrol(client, settings, p, course, paid=True) for p in pupils]
    await app.state.dispatcher.run_once()
    url = f"{API}/provider/courses/{course}/withdraw"
    answers = await asyncio.gather(
        client.post(
            f"{API}/enrolments/{enrolled[0]['enrolment']['id']}/refund", headers=pupils[0].headers
        ),
        client.post(url, json={"reason": "停办"}, headers=provider.headers),
        client.post(
            f"{API}/enrolments/{enrolled[1]['enrolment']['id']}/refund", headers=pupils[1].headers
        ),
    )
    assert answers[1].status_code == 200, answers[1].text  # the withdrawal always goes through
    for answer in (answers[0], answers[2]):  # a pupil's refund may come after it: nothing left
        assert answer.status_code == 200 or answer.json()["error"]["code"] in (
            "wrong_status",
            "changed",
            "nothing_to_refund",
        ), answer.text
    escrow = ledger.training_escrow(provider.organisation.id)
    assert await balance(app, escrow) == 0
    async with app.state.sessionmaker() as s:
        refunded = [
            await s.scalar(
                select(PaymentIntent.refunded_fen).where(
                    PaymentIntent.public_id == e["payment_public_id"]
                )
            )
            for e in enrolled
        ]
        assert refunded == [40_000] * 3  # each pupil's four classes, once
        assert (await ledger.trial_balance(s)).total == 0

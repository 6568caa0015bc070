"""Consumer protection and credit on services, from the outside: a client reviews a session
they attended (once; the provider replies; the provider's reviews are public), complains about a
booking or a course enrolment through the 12315 flow (routed to the provider, whom no other
organisation can read or answer for), and a no-show or a provider's cancellation lands in the
credit ledger once, weighed by rule data and shown in the score's explanation."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.credit.models import CreditRecord
from linli.notifications.models import Notification
from tests.credit.helpers import CREDIT, records
from tests.credit.test_sources import deliver_again
from tests.factories import form_login, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer
from tests.services.helpers import (
    API,
    MONDAY,
    Person,
    a_practitioner,
    a_provider,
    a_slot,
    book,
    confirm_identity,
    people,
)
from tests.services.test_courses import course_body, weekly

COMPLAINTS = "/api/v1/protection/complaints"
REVIEWS = "/api/v1/protection/reviews"


async def test_reviews_no_shows_and_provider_cancellations(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    other = await a_provider(session, licences=("training_school",), name="别家学堂")
    teacher, teacher_person = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher)
    later = await a_slot(client, provider, teacher, day=MONDAY + timedelta(days=1))
    attends, absent, quits = await people(session, 3)
    booked: dict[str, int] = {}
    for who, person in (("attends", attends), ("absent", absent)):
        made = await book(client, person, lesson["id"])
        assert made.status_code == 201, made.text
        booked[who] = made.json()["id"]
    for who, person in (("moved", attends), ("quits", quits)):
        made = await book(client, person, later["id"])
        assert made.status_code == 201, made.text
        booked[who] = made.json()["id"]

    def review_url(name: str) -> str:
        return f"{API}/bookings/{booked[name]}/review"

    early = await client.post(review_url("attends"), json={"rating": 5}, headers=attends.headers)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_completed")

    frozen_clock.set(datetime.fromisoformat(lesson["starts_at"]) + timedelta(minutes=1))
    await confirm_identity(client, teacher_person, lesson["id"])
    for step in ("check-in", "complete"):
        done = await client.post(
            f"{API}/provider/bookings/{booked['attends']}/{step}", headers=provider.headers
        )
        assert done.status_code == 200, done.text

    # "My bookings" offers the review of the session attended, then says it is reviewed.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        csrf = await form_login(browser, attends.user.phone)
        page = await browser.get("/services/bookings", headers={"Accept-Language": "zh-CN"})
        assert f'action="/services/bookings/{booked["attends"]}/review"' in page.text
        assert "发表评价" in page.text
        wrong = await browser.post(
            f"/services/bookings/{booked['attends']}/review",
            data={"csrf_token": csrf, "rating": "9"},
        )
        assert wrong.status_code == 303  # back, with the reason; nothing stored
    # Someone else's booking is not found; the client's own completed one is reviewed once.
    theirs = await client.post(review_url("attends"), json={"rating": 1}, headers=absent.headers)
    assert theirs.status_code == 404
    posted = await client.post(
        review_url("attends"),
        json={"rating": 4, "text": "老师很耐心 <b>好</b>"},
        headers=attends.headers,
    )
    assert posted.status_code == 201, posted.text
    review = posted.json()
    assert (review["booking_id"], review["product_id"], review["product_name"]) == (
        booked["attends"],
        None,
        lesson["title"],
    )
    again = await client.post(review_url("attends"), json={"rating": 5}, headers=attends.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_reviewed")
    bad = await client.post(review_url("attends"), json={"rating": 6}, headers=attends.headers)
    assert bad.status_code == 422
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await form_login(browser, attends.user.phone)
        page = await browser.get("/services/bookings")
        assert f'data-reviewed="{booked["attends"]}"' in page.text
        # The sessions still open show their provider's rating from these reviews.
        find = await browser.get("/services")
        provider_line = find.text.split(f'data-provider="{provider.organisation.id}"')[1]
        assert 'data-rating="4.0"' in provider_line.split("</p>")[0]
        assert "(reviews of sessions: 1)" in provider_line

    # The provider replies once, as to a product review; another organisation cannot.
    reply_url = f"{REVIEWS}/{review['id']}/reply"
    foreign = await client.post(reply_url, json={"text": "谢谢"}, headers=other.headers)
    assert foreign.status_code == 404
    replied = await client.post(reply_url, json={"text": "谢谢支持"}, headers=provider.headers)
    assert replied.status_code == 200, replied.text
    awaiting = await client.get(
        f"{REVIEWS}/merchant", params={"awaiting_reply": "true"}, headers=provider.headers
    )
    assert awaiting.json()["reviews"] == []

    # Public: the provider's session reviews with their rating; the merchant page's list too.
    listed = (await client.get(f"{API}/providers/{provider.organisation.id}/reviews")).json()
    assert (listed["summary"]["count"], listed["summary"]["average"]) == (1, 4.0)
    assert [(r["text"], r["reply_text"]) for r in listed["reviews"]] == [
        ("老师很耐心 <b>好</b>", "谢谢支持")
    ]
    nothing = (await client.get(f"{API}/providers/{other.organisation.id}/reviews")).json()
    assert nothing["summary"]["count"] == 0
    merchant = (await client.get(f"{REVIEWS}/merchants/{provider.organisation.id}")).json()
    assert [r["booking_id"] for r in merchant["reviews"]] == [booked["attends"]]
    mine = (await client.get(f"{REVIEWS}/mine", headers=attends.headers)).json()
    assert [(r["booking_id"], r["order_line_id"]) for r in mine] == [(booked["attends"], None)]

    # The provider cancels a booked session (counts against it); a client's own does not.
    cancelled = await client.post(
        f"{API}/provider/bookings/{booked['moved']}/cancel",
        json={"reason": "老师生病"},
        headers=provider.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    own = await client.post(
        f"{API}/bookings/{booked['quits']}/cancel", json={"reason": ""}, headers=quits.headers
    )
    assert own.status_code == 200, own.text

    # The slot ends: the absent client is a no-show, counted against them once.
    frozen_clock.set(datetime.fromisoformat(lesson["ends_at"]) + timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    absent_rows = list(await records(app, "resident", absent.user.id))
    provider_rows = list(await records(app, "merchant", provider.organisation.id))
    assert [(r.kind, r.weight, r.rule_id, r.rule_version, r.reference) for r in absent_rows] == [
        ("service_no_show", -20, "credit.scoring", 5, f"booking:{booked['absent']}")
    ]
    assert [(r.kind, r.weight, r.reference) for r in provider_rows] == [
        ("service_cancelled_by_provider", -10, f"booking:{booked['moved']}")
    ]
    assert list(await records(app, "resident", quits.user.id)) == []
    assert list(await records(app, "resident", attends.user.id)) == []
    await deliver_again(app, [*absent_rows, *provider_rows])
    async with app.state.sessionmaker() as s:
        total = list(await s.scalars(select(CreditRecord)))
    assert len(total) == 2

    explained = await client.get(f"{CREDIT}/me", headers=absent.headers)
    assert explained.status_code == 200, explained.text
    assert explained.json()["score"] == 580
    lines = explained.json()["explanation"]["lines"]
    assert [(line["kind"], line["weight"]) for line in lines] == [("service_no_show", -20)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await form_login(browser, absent.user.phone)
        for language, words in (("en", "booked session missed (no-show)"), ("zh-CN", "预约未到")):
            page = await browser.get("/credit", headers={"Accept-Language": language})
            assert page.status_code == 200, page.text
            assert words in page.text
    async with app.state.sessionmaker() as s:
        told = list(
            await s.scalars(select(Notification.kind).where(Notification.kind == "review_posted"))
        )
    assert told  # the provider's owner heard of the review


async def a_platform_operator(session: AsyncSession) -> dict[str, str]:
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    return bearer(await make_token(session, operator, organisation=platform))


async def test_complaints_about_a_booking_and_a_course_reach_the_provider_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    other = await a_provider(session, licences=("training_school",), name="别家学堂")
    operator = await a_platform_operator(session)
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher)
    client_, neighbour = await people(session, 2)
    booking = (await book(client, client_, lesson["id"])).json()
    last = MONDAY + timedelta(days=14)
    week = await weekly(client, provider, teacher, MONDAY, last, start="18:00", minutes=30)
    course = await client.post(
        f"{API}/provider/courses",
        json=course_body(week, MONDAY, last, 10_000),
        headers=provider.headers,
    )
    assert course.status_code == 201, course.text
    enrolled = await client.post(
        f"{API}/courses/{course.json()['id']}/enrol", headers=client_.headers
    )
    assert enrolled.status_code == 201, enrolled.text
    enrolment_id = enrolled.json()["enrolment"]["id"]

    async def complain(person: Person, what: str, text: str = "老师迟到半小时") -> httpx.Response:
        return await client.post(
            f"{API}/{what}/complaint", json={"text": text, "to": "platform"}, headers=person.headers
        )

    # Only the client files, about their own booking or enrolment.
    assert (await complain(neighbour, f"bookings/{booking['id']}")).status_code == 404
    assert (await complain(neighbour, f"enrolments/{enrolment_id}")).status_code == 404
    # Two at once (a double tap): one complaint, the other told it is open already.
    raced = await asyncio.gather(
        complain(client_, f"bookings/{booking['id']}"),
        complain(client_, f"bookings/{booking['id']}"),
    )
    assert sorted(r.status_code for r in raced) == [201, 409], [r.text for r in raced]
    filed = next(r for r in raced if r.status_code == 201)
    about_booking = filed.json()
    assert (about_booking["target"], about_booking["order_id"], about_booking["booking_id"]) == (
        "booking",
        None,
        booking["id"],
    )
    assert about_booking["subject_organisation_id"] == provider.organisation.id
    assert about_booking["product_name"] == lesson["title"]
    twice = await complain(client_, f"bookings/{booking['id']}")
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "complaint_open")
    # The course complaint is filed from "My courses" (the page form).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        csrf = await form_login(browser, client_.user.phone)
        courses_page = await browser.get("/services/courses")
        assert f'action="/services/enrolments/{enrolment_id}/complaint"' in courses_page.text
        sent = await browser.post(
            f"/services/enrolments/{enrolment_id}/complaint",
            data={"csrf_token": csrf, "text": "退费太慢", "to": "platform"},
        )
        assert sent.status_code == 303, sent.text
        course_id = int(sent.headers["location"].rsplit("/", 1)[1])
    course_filed = await client.get(f"{COMPLAINTS}/{course_id}", headers=client_.headers)
    assert (course_filed.json()["target"], course_filed.json()["enrolment_id"]) == (
        "course",
        enrolment_id,
    )
    empty = await complain(client_, f"bookings/{booking['id']}", "")
    assert empty.status_code == 422

    # The provider sees and answers its own; another organisation neither sees nor answers.
    ours = (await client.get(f"{COMPLAINTS}/about-us", headers=provider.headers)).json()
    assert {c["id"] for c in ours} == {about_booking["id"], course_filed.json()["id"]}
    assert (await client.get(f"{COMPLAINTS}/about-us", headers=other.headers)).json() == []
    url = f"{COMPLAINTS}/{about_booking['id']}"
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.get(url, headers=neighbour.headers)).status_code == 404
    stranger = await client.post(f"{url}/messages", json={"text": "x"}, headers=other.headers)
    assert stranger.status_code == 404
    answer = await client.post(
        f"{url}/messages", json={"text": "已向老师核实，深表歉意"}, headers=provider.headers
    )
    assert (answer.status_code, answer.json()["role"]) == (201, "merchant")
    not_decider = await client.post(f"{url}/accept", headers=provider.headers)
    assert not_decider.status_code == 403
    mine = (await client.get(f"{COMPLAINTS}/mine", headers=client_.headers)).json()
    assert len(mine) == 2
    assert (await client.get(f"{COMPLAINTS}/mine", headers=neighbour.headers)).json() == []

    # The platform decides within the working-day clock; upheld, it counts against the
    # provider in credit like any complaint.
    detail = (await client.get(url, headers=client_.headers)).json()
    assert detail["rule_id"] == "consumer.complaint"
    assert detail["accept_by"] is not None
    assert (await client.post(f"{url}/accept", headers=operator)).status_code == 200
    resolved = await client.post(f"{url}/resolve", json={"outcome": "upheld"}, headers=operator)
    assert resolved.status_code == 200, resolved.text
    await app.state.dispatcher.run_once()
    rows = list(await records(app, "merchant", provider.organisation.id))
    assert [(r.kind, r.reference) for r in rows] == [
        ("complaint_upheld", f"complaint:{about_booking['id']}")
    ]
    async with app.state.sessionmaker() as s:
        bodies = list(
            await s.scalars(
                select(Notification.body).where(
                    Notification.user_id == client_.user.id,
                    Notification.kind == "complaint_resolved",
                )
            )
        )
    assert bodies
    assert all("order #" not in b for b in bodies)

    # The complaint's page names the booking, in both languages.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await form_login(browser, client_.user.phone)
        for language, words in (("en", "booking #"), ("zh-CN", "预约 #")):
            page = await browser.get(
                f"/protection/complaints/{about_booking['id']}",
                headers={"Accept-Language": language},
            )
            assert page.status_code == 200, page.text
            assert words in page.text
            assert lesson["title"] in page.text

"""The provider's desk pages beyond today: practitioners and their weekly schedule, leave and
the slots of a period, courses offered from a weekly class session with their enrolments,
attendance and what the escrow account holds (English and Chinese)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.categories.models import Category
from linli.clock import FrozenClock
from linli.config import Settings
from linli.services.models import Course, Leave, Practitioner, Slot, WeeklySlot
from tests.factories import form_login, grant, make_user
from tests.groupbuy.helpers import pay
from tests.services.helpers import API, MONDAY, a_provider, count, people

SCHEDULE = "/services/desk/schedule"


def flash(page: httpx.Response) -> str:
    return page.text.split('role="status">')[1].split("</p>")[0]


async def test_the_owner_registers_a_teacher_and_builds_the_week_on_the_pages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher = await make_user(session, name="林老师")
    await grant(session, provider.organisation, teacher, "staff")
    (resident,) = await people(session, 1)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as desk,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger,
    ):
        csrf = await form_login(desk, provider.owner.phone)
        page = await desk.get(SCHEDULE)
        assert page.status_code == 200, page.text
        assert "No practitioners registered yet." in page.text
        registered = await desk.post(
            "/services/desk/practitioners",
            data={
                "csrf_token": csrf,
                "phone": teacher.phone,
                "real_name": "林雪",
                "credential_kind": "teacher",
                "credential_number": "教师资格20143101",
                "practising_since": "",
            },
            follow_redirects=True,
        )
        assert flash(registered) == "Practitioner registered."
        (practitioner_id,) = [
            p["id"]
            for p in (
                await client.get(f"{API}/provider/practitioners", headers=provider.headers)
            ).json()
        ]
        base = f"/services/desk/practitioners/{practitioner_id}"
        week = {
            "csrf_token": csrf,
            "title": "少儿编程",
            "weekday": "0",
            "start": "18:00",
            "duration_minutes": "60",
            "kind": "class",
            "mode": "offline",
            "capacity": "5",
            "for_minors": "on",
        }
        late = await desk.post(
            f"{base}/schedule", data=week | {"start": "20:00"}, follow_redirects=True
        )
        assert "20:30" in flash(late)  # offline classes for minors end by 20:30
        bad = await desk.post(f"{base}/schedule", data=week | {"start": "6pm"})
        assert bad.status_code == 303
        assert await count(app, WeeklySlot) == 0
        added = await desk.post(
            f"{base}/schedule",
            data=week | {"category": "technology_training"},
            follow_redirects=True,
        )
        assert flash(added) == "Weekly session added."
        async with app.state.sessionmaker() as s:
            (code,) = (
                await s.execute(
                    select(Category.code).join(WeeklySlot, WeeklySlot.category_id == Category.id)
                )
            ).one()
        assert code == "technology_training"
        leave = await desk.post(
            f"{base}/leave",
            data={
                "csrf_token": csrf,
                "first_day": (MONDAY + timedelta(days=7)).isoformat(),
                "last_day": (MONDAY + timedelta(days=7)).isoformat(),
                "reason": "培训",
            },
            follow_redirects=True,
        )
        assert flash(leave) == "Leave recorded."
        made = await desk.post(
            f"{base}/slots",
            data={
                "csrf_token": csrf,
                "first_day": MONDAY.isoformat(),
                "last_day": (MONDAY + timedelta(days=20)).isoformat(),
            },
            follow_redirects=True,
        )
        assert flash(made) == "2 slots made."  # three Mondays, one on leave
        assert await count(app, Slot) == 2
        assert await count(app, Leave) == 1
        chinese = await desk.get(SCHEDULE, headers={"Accept-Language": "zh-CN"})
        assert "林雪" in chinese.text
        assert "星期一 18:00" in chinese.text
        assert "培训" in chinese.text

        await form_login(stranger, resident.user.phone)
        assert (await stranger.get(SCHEDULE)).status_code == 403
    assert await count(app, Practitioner) == 1


async def test_a_course_offered_on_the_page_shows_its_pupils_and_the_escrow(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    other = await a_provider(session, licences=("training_school",), name="别家学校")
    teacher = await make_user(session, name="林老师")
    await grant(session, provider.organisation, teacher, "staff")
    registered = await client.post(
        f"{API}/provider/practitioners",
        json={
            "phone": teacher.phone,
            "real_name": "林雪",
            "credential_kind": "teacher",
            "credential_number": "T-1",
        },
        headers=provider.headers,
    )
    practitioner_id = registered.json()["id"]
    week = await client.post(
        f"{API}/provider/practitioners/{practitioner_id}/schedule",
        json={
            "title": "成人书法",
            "weekday": 0,
            "start": "18:00",
            "duration_minutes": 60,
            "kind": "class",
            "capacity": 5,
        },
        headers=provider.headers,
    )
    last = MONDAY + timedelta(days=21)
    await client.post(
        f"{API}/provider/practitioners/{practitioner_id}/slots",
        json={"first_day": MONDAY.isoformat(), "last_day": last.isoformat()},
        headers=provider.headers,
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as desk,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as rival,
    ):
        csrf = await form_login(desk, provider.owner.phone)
        page = await desk.get("/services/desk/courses")
        assert "成人书法" in page.text  # the weekly class session to offer
        offer = {
            "csrf_token": csrf,
            "title": "成人书法（冬季）",
            "weekly_slot_id": str(week.json()["id"]),
            "first_day": MONDAY.isoformat(),
            "last_day": last.isoformat(),
            "price_per_class": "80",
        }
        refused = await desk.post(
            "/services/desk/courses", data=offer | {"price_per_class": "eighty"}
        )
        assert refused.status_code == 303
        assert await count(app, Course) == 0
        # The category is chosen on the form (subject tutoring is the first choice but one).
        assert 'data-course-category><option value="courses">' in page.text
        assert '<option value="subject_tutoring">' in page.text
        outside = await desk.post(
            "/services/desk/courses",
            data=offer | {"category": "consultations"},
            follow_redirects=True,
        )
        assert "Education services" in flash(outside)
        assert await count(app, Course) == 0
        offered = await desk.post(
            "/services/desk/courses",
            data=offer | {"category": "arts_training"},
            follow_redirects=True,
        )
        assert flash(offered) == "Course offered: residents may enrol now."
        (course,) = (await client.get(f"{API}/courses")).json()
        assert (course["classes"], course["price_per_class_fen"]) == (4, 8000)
        assert (course["category"]["code"], course["subject_training"]) == ("arts_training", False)

        (pupil,) = await people(session, 1)
        enrolled = await client.post(f"{API}/courses/{course['id']}/enrol", headers=pupil.headers)
        await pay(
            client,
            settings,
            {"public_id": enrolled.json()["payment_public_id"], "amount_fen": 32_000},
        )
        await app.state.dispatcher.run_once()
        listing = await desk.get("/services/desk/courses", headers={"Accept-Language": "zh-CN"})
        assert 'data-escrow="32000"' in listing.text
        assert 'data-held="32000"' in listing.text
        assert "¥320.00" in listing.text
        detail = await desk.get(f"/services/desk/courses/{course['id']}")
        assert detail.status_code == 200
        assert pupil.user.display_name in detail.text
        assert 'data-attended="0"' in detail.text

        await form_login(rival, other.owner.phone)
        assert (await rival.get(f"/services/desk/courses/{course['id']}")).status_code == 404
        theirs = await rival.get("/services/desk/courses")
        assert "成人书法（冬季）" not in theirs.text
        assert 'data-escrow="0"' in theirs.text


async def test_the_desk_changes_and_withdraws_weekly_sessions_and_courses_on_the_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    other = await a_provider(session, licences=("training_school",), name="别家学校")
    teacher = await make_user(session, name="林老师")
    await grant(session, provider.organisation, teacher, "staff")
    registered = await client.post(
        f"{API}/provider/practitioners",
        json={
            "phone": teacher.phone,
            "real_name": "林雪",
            "credential_kind": "teacher",
            "credential_number": "T-1",
        },
        headers=provider.headers,
    )
    practitioner_id = registered.json()["id"]
    weeks = []
    for title, weekday in (("成人书法", 0), ("少儿围棋", 1)):
        added = await client.post(
            f"{API}/provider/practitioners/{practitioner_id}/schedule",
            json={
                "title": title,
                "weekday": weekday,
                "start": "18:00",
                "duration_minutes": 60,
                "kind": "class",
                "mode": "offline",
                "capacity": 5,
            },
            headers=provider.headers,
        )
        weeks.append(added.json()["id"])
    last = MONDAY + timedelta(days=21)
    await client.post(
        f"{API}/provider/practitioners/{practitioner_id}/slots",
        json={"first_day": MONDAY.isoformat(), "last_day": last.isoformat()},
        headers=provider.headers,
    )
    course = await client.post(
        f"{API}/provider/courses",
        json={
            "title": "成人书法（冬季）",
            "weekly_slot_id": weeks[0],
            "first_day": MONDAY.isoformat(),
            "last_day": last.isoformat(),
            "price_per_class_fen": 8000,
        },
        headers=provider.headers,
    )
    course_id = course.json()["id"]
    (pupil,) = await people(session, 1)
    enrolled = await client.post(f"{API}/courses/{course_id}/enrol", headers=pupil.headers)
    await pay(
        client, settings, {"public_id": enrolled.json()["payment_public_id"], "amount_fen": 32_000}
    )
    await app.state.dispatcher.run_once()
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as desk,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as rival,
    ):
        csrf = await form_login(desk, provider.owner.phone)
        page = await desk.get(SCHEDULE)
        assert f'action="/services/desk/weekly-sessions/{weeks[1]}"' in page.text
        change = {
            "csrf_token": csrf,
            "title": "少儿围棋",
            "weekday": "1",
            "start": "19:00",
            "duration_minutes": "60",
            "mode": "offline",
            "capacity": "4",
        }
        running = await desk.post(
            f"/services/desk/weekly-sessions/{weeks[0]}", data=change, follow_redirects=True
        )
        assert "withdraw the course first" in flash(running)
        moved = await desk.post(
            f"/services/desk/weekly-sessions/{weeks[1]}", data=change, follow_redirects=True
        )
        assert flash(moved) == (
            "Done: 3 unbooked slots to come closed, 3 made again, 0 booked kept, "
            "0 bookings cancelled."
        )
        rival_csrf = await form_login(rival, other.owner.phone)
        theirs = await rival.post(
            f"/services/desk/weekly-sessions/{weeks[1]}/withdraw",
            data={"csrf_token": rival_csrf, "reason": "x"},
            follow_redirects=True,
        )
        assert "No such weekly session." in flash(theirs)
        withdrawn = await desk.post(
            f"/services/desk/weekly-sessions/{weeks[1]}/withdraw",
            data={"csrf_token": csrf, "reason": "停课"},
            follow_redirects=True,
        )
        assert flash(withdrawn).startswith("Done: 3 unbooked slots to come closed")  # Tuesdays
        chinese = await desk.get(SCHEDULE, headers={"Accept-Language": "zh-CN"})
        assert f'data-withdrawn="{weeks[1]}"' in chinese.text
        assert "已撤下" in chinese.text

        detail = f"/services/desk/courses/{course_id}"
        edited = await desk.post(
            f"{detail}/edit",
            data={"csrf_token": csrf, "title": "成人书法（冬季班）", "description": "自带毛笔。"},
            follow_redirects=True,
        )
        assert flash(edited) == "Course changed."
        assert "自带毛笔。" in edited.text
        bare = await desk.post(
            f"{detail}/withdraw", data={"csrf_token": csrf, "reason": ""}, follow_redirects=True
        )
        assert flash(bare) == "Tell the pupils why."
        out = await desk.post(
            f"{detail}/withdraw",
            data={"csrf_token": csrf, "reason": "老师离职"},
            follow_redirects=True,
            headers={"Accept-Language": "zh-CN"},
        )
        assert flash(out) == "课程已撤下：已向 1 名学员退还 4 节课（¥320.00）。"
        assert f'data-withdrawn="{course_id}"' in out.text
        assert 'action="/services/desk/courses/' not in out.text  # no forms once withdrawn
        listing = await desk.get("/services/desk/courses")
        assert 'data-escrow="0"' in listing.text
    async with app.state.sessionmaker() as s:
        assert (await s.get(Course, course_id)).status == "closed"
        assert (await s.get(WeeklySlot, weeks[1])).withdrawn_at is not None

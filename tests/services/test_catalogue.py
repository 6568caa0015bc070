"""The services catalogue's categories: every weekly session, slot and course lies in the
category tree under its kind's root (422 otherwise), a course's subject-training flag is read
from its category (the prepaid ceiling for non-subject training follows it), and the
catalogue (API and pages) names each offering's category and consumption type in both
languages and filters by them."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.services.models import Course, Slot
from tests.factories import category_id
from tests.services.helpers import API, MONDAY, Provider, a_practitioner, a_provider, a_slot
from tests.services.test_courses import course_body, weekly

WEDNESDAY, WEDNESDAY_END = date(2026, 12, 2), date(2026, 12, 30)  # five Wednesdays


async def add_week(
    client: httpx.AsyncClient, provider: Provider, practitioner: int, **fields: Any
) -> httpx.Response:
    body = {
        "title": "课",
        "weekday": 4,
        "start": "15:00",
        "duration_minutes": 30,
        "kind": "class",
        "capacity": 3,
    } | fields
    return await client.post(
        f"{API}/provider/practitioners/{practitioner}/schedule",
        json=body,
        headers=provider.headers,
    )


async def test_an_offering_lies_under_its_kinds_root_with_a_default_for_old_clients(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    doctor, _ = await a_practitioner(client, session, provider, "doctor", name="李医生")
    teacher, _ = await a_practitioner(client, session, provider, "teacher")

    consultation = await a_slot(client, provider, doctor, kind="consultation", capacity=1)
    assert consultation["category"] == {
        "code": "consultations",
        "name_en": "Online consultations",
        "name_zh": "在线问诊",
        "consumption_type": "medical",
        "type_name_en": "Medical services",
        "type_name_zh": "医疗服务",
    }
    plain_class = await a_slot(client, provider, teacher, start="11:00", title="英语")
    assert plain_class["category"]["code"] == "courses"
    assert plain_class["category"]["type_name_zh"] == "教育服务"

    tutoring = await add_week(client, provider, teacher, category="subject_tutoring")
    assert tutoring.status_code == 201, tutoring.text
    assert tutoring.json()["category"]["name_zh"] == "学科类培训"

    wrong_root = await add_week(
        client, provider, doctor, kind="consultation", capacity=1, category="courses"
    )
    assert wrong_root.status_code == 422
    error = wrong_root.json()["error"]
    assert error["code"] == "category_outside_root"
    assert error["message"] == "A consultation's category must lie under Medical services."
    assert "category" in error["fields"]
    goods = await add_week(client, provider, teacher, start="17:00", category="fresh_food")
    assert goods.json()["error"]["code"] == "category_outside_root"
    assert "Education services" in goods.json()["error"]["message"]
    unknown = await add_week(client, provider, teacher, start="17:00", category="no_such")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_category"


async def test_the_course_category_decides_subject_training_and_its_prepaid_ceiling(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    lessons = await weekly(client, provider, teacher, WEDNESDAY, WEDNESDAY_END)
    courses = f"{API}/provider/courses"
    dear = course_body(lessons, WEDNESDAY, WEDNESDAY_END, 120_000)  # ¥6,000 in one go

    arts = await client.post(
        courses, json=dear | {"category": "arts_training"}, headers=provider.headers
    )
    assert arts.status_code == 422
    assert arts.json()["error"]["code"] == "prepaid_over_amount"
    mismatch = await client.post(
        courses,
        json=dear | {"category": "subject_tutoring", "subject_training": False},
        headers=provider.headers,
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "subject_category_mismatch"
    outside = await client.post(
        courses, json=dear | {"category": "consultations"}, headers=provider.headers
    )
    assert outside.json()["error"]["code"] == "category_outside_root"

    tutoring = await client.post(
        courses, json=dear | {"category": "subject_tutoring"}, headers=provider.headers
    )
    assert tutoring.status_code == 201, tutoring.text
    assert tutoring.json()["subject_training"] is True
    assert tutoring.json()["category"]["code"] == "subject_tutoring"
    # The flag alone (the desk's checkbox, older clients) names the category.
    flagged = await client.post(
        courses,
        json=dear | {"title": "数学", "subject_training": True},
        headers=provider.headers,
    )
    assert flagged.status_code == 201, flagged.text
    assert flagged.json()["category"]["code"] == "subject_tutoring"
    cheap = await client.post(
        courses,
        json=course_body(lessons, WEDNESDAY, WEDNESDAY_END, 10_000) | {"title": "美术"},
        headers=provider.headers,
    )
    assert cheap.status_code == 201, cheap.text
    assert (cheap.json()["category"]["code"], cheap.json()["subject_training"]) == (
        "courses",
        False,
    )
    async with app.state.sessionmaker() as s:
        stored = (await s.execute(select(Course.title, Course.subject_training))).all()
    assert sorted(stored) == [("少儿编程", True), ("数学", True), ("美术", False)]


async def test_the_catalogue_filters_by_consumption_type_and_category(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    doctor, _ = await a_practitioner(client, session, provider, "doctor", name="李医生")
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    consultation = await a_slot(
        client, provider, doctor, kind="consultation", capacity=1, title="复诊"
    )
    added = await add_week(
        client, provider, teacher, weekday=MONDAY.weekday(), category="sports_training"
    )
    assert added.status_code == 201, added.text
    made = await client.post(
        f"{API}/provider/practitioners/{teacher}/slots",
        json={"first_day": MONDAY.isoformat(), "last_day": MONDAY.isoformat()},
        headers=provider.headers,
    )
    (sports,) = made.json()
    assert sports["category"]["code"] == "sports_training"

    async def listed(**params: str) -> list[int]:
        found = await client.get(f"{API}/slots", params=params)
        assert found.status_code == 200, found.text
        return [s["id"] for s in found.json()]

    assert await listed() == [consultation["id"], sports["id"]]
    assert await listed(consumption_type="medical") == [consultation["id"]]
    assert await listed(consumption_type="education") == [sports["id"]]
    assert await listed(category="education") == [sports["id"]]  # and the categories below it
    assert await listed(category="courses") == []
    assert await listed(category="arts_training") == []
    assert await listed(category="consultations", consumption_type="education") == []
    unknown = await client.get(f"{API}/slots", params={"category": "no_such"})
    assert unknown.status_code == 422
    bad_type = await client.get(f"{API}/slots", params={"consumption_type": "smart"})
    assert bad_type.status_code == 422
    async with app.state.sessionmaker() as s:  # each slot copied its weekly session's
        stored = {i: c for i, c in (await s.execute(select(Slot.id, Slot.category_id))).all()}
    assert stored == {
        consultation["id"]: await category_id(session, "consultations"),
        sports["id"]: await category_id(session, "sports_training"),
    }

    page = await client.get("/services", params={"type": "medical"})
    assert page.status_code == 200
    assert f'data-slot="{consultation["id"]}"' in page.text
    assert f'data-slot="{sports["id"]}"' not in page.text
    assert 'data-category="consultations" data-consumption-type="medical"' in page.text
    assert "Online consultations · Medical services" in page.text
    chinese = await client.get(
        "/services", params={"category": "sports_training"}, headers={"Accept-Language": "zh-CN"}
    )
    assert f'data-slot="{sports["id"]}"' in chinese.text
    assert f'data-slot="{consultation["id"]}"' not in chinese.text
    assert "体育培训 · 教育服务" in chinese.text
    unknown_page = await client.get("/services", params={"category": "no_such"})
    assert unknown_page.status_code == 200
    assert "Choose a category from the list." in unknown_page.text
    assert "data-slot=" not in unknown_page.text


async def test_the_courses_page_and_api_filter_by_category(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    lessons = await weekly(client, provider, teacher, WEDNESDAY, WEDNESDAY_END)
    made = {}
    for title, category in (("数学", "subject_tutoring"), ("编程", "technology_training")):
        body = course_body(lessons, WEDNESDAY, WEDNESDAY_END, 10_000)
        created = await client.post(
            f"{API}/provider/courses",
            json=body | {"title": title, "category": category},
            headers=provider.headers,
        )
        assert created.status_code == 201, created.text
        made[category] = created.json()["id"]

    found = await client.get(f"{API}/courses", params={"category": "technology_training"})
    assert [c["id"] for c in found.json()] == [made["technology_training"]]
    assert found.json()[0]["category"]["name_en"] == "Science and technology training"
    every = await client.get(f"{API}/courses", params={"consumption_type": "education"})
    assert sorted(c["id"] for c in every.json()) == sorted(made.values())
    none = await client.get(f"{API}/courses", params={"consumption_type": "medical"})
    assert none.json() == []

    page = await client.get("/services/courses", params={"category": "subject_tutoring"})
    assert f'data-course="{made["subject_tutoring"]}"' in page.text
    assert f'data-course="{made["technology_training"]}"' not in page.text
    assert "Subject tutoring · Education services" in page.text

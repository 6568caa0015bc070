"""Online education rules as rule data: the timetable limits for minors' classes."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.rules.models import RuleVersion
from tests.services.helpers import API, a_practitioner, a_provider


async def test_the_schedule_refuses_classes_for_minors_that_break_the_timetable_limits(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher, _ = await a_practitioner(client, session, provider, "teacher")

    async def add(start: str, minutes: int, mode: str, weekday: int) -> httpx.Response:
        body: dict[str, Any] = {
            "title": f"{mode}-{start}",
            "weekday": weekday,
            "start": start,
            "duration_minutes": minutes,
            "kind": "class",
            "mode": mode,
            "capacity": 20,
            "for_minors": True,
        }
        return await client.post(
            f"{API}/provider/practitioners/{teacher}/schedule", json=body, headers=provider.headers
        )

    long_online = await add("18:00", 40, "online", 0)
    assert long_online.status_code == 422
    assert long_online.json()["error"]["code"] == "minors_too_long"
    assert "30 minutes" in long_online.json()["error"]["message"]
    late_online = await add("20:40", 30, "online", 1)
    assert late_online.status_code == 422
    assert late_online.json()["error"]["code"] == "minors_too_late"
    assert "21:00" in late_online.json()["error"]["message"]
    late_offline = await add("19:30", 90, "offline", 2)
    assert late_offline.json()["error"]["code"] == "minors_too_late"
    assert "20:30" in late_offline.json()["error"]["message"]

    assert (await add("20:30", 30, "online", 3)).status_code == 201  # ends 21:00: allowed
    assert (await add("19:00", 90, "offline", 4)).status_code == 201  # ends 20:30
    adults = await client.post(
        f"{API}/provider/practitioners/{teacher}/schedule",
        json={
            "title": "成人夜校",
            "weekday": 5,
            "start": "21:00",
            "duration_minutes": 120,
            "kind": "class",
            "capacity": 20,
        },
        headers=provider.headers,
    )
    assert adults.status_code == 201, adults.text  # the limits are for minors' classes


async def test_a_districts_own_timetable_limits_bind_its_schools_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """Pudong lets offline classes for minors run only until 20:00: its school may not end one
    at 20:30, a school registered elsewhere still may (the national 20:30)."""
    session.add(
        RuleVersion(
            rule_id="services.minors_timetable",
            version=2,
            jurisdiction="310115",
            title="浦东新区校外培训时间",
            legal_basis="local rule",
            effective_from=clock.now(),
            effective_to=None,
            values={"online_max_minutes": 30, "online_end_by": "21:00", "offline_end_by": "20:00"},
            created_at=clock.now(),
        )
    )
    await session.commit()
    late = {
        "title": "少儿美术",
        "weekday": 2,
        "start": "19:30",
        "duration_minutes": 60,
        "kind": "class",
        "mode": "offline",
        "capacity": 8,
        "for_minors": True,
    }
    answers = []
    for name, district in (("浦东画室", "310115"), ("徐汇画室", "310104")):
        school = await a_provider(session, licences=("training_school",), name=name)
        school.organisation.province_code = "310000"
        school.organisation.city_code = "310100"
        school.organisation.district_code = district
        await session.commit()
        teacher, _ = await a_practitioner(client, session, school, "teacher")
        answers.append(
            await client.post(
                f"{API}/provider/practitioners/{teacher}/schedule",
                json=late,
                headers=school.headers,
            )
        )
    pudong, xuhui = answers
    assert pudong.status_code == 422, pudong.text
    assert "20:00" in pudong.json()["error"]["message"]
    assert xuhui.status_code == 201, xuhui.text

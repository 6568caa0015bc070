"""Registering practitioners (credentials against the organisation's licences) and making
slots from a weekly schedule: working days only, none on leave."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from tests.factories import grant, make_user
from tests.services.helpers import API, MONDAY, a_practitioner, a_provider


async def test_credentials_are_checked_against_licences_and_practice(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    school = await a_provider(session, licences=("training_school",), name="学校")
    member = await make_user(session, name="赵医生")
    await grant(session, school.organisation, member, "staff")
    body = {
        "phone": member.phone,
        "real_name": "赵医生",
        "credential_kind": "doctor",
        "credential_number": "D-1",
        "practising_since": "2015-01-01",
    }
    no_licence = await client.post(
        f"{API}/provider/practitioners", json=body, headers=school.headers
    )
    assert no_licence.status_code == 409
    assert no_licence.json()["error"]["code"] == "licence_missing"

    clinic = await a_provider(session, licences=("medical_institution",), name="诊所")
    await grant(session, clinic.organisation, member, "staff")
    recent = body | {"practising_since": "2024-06-01"}  # 2.5 years before 26 November 2026
    short = await client.post(f"{API}/provider/practitioners", json=recent, headers=clinic.headers)
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "practice_too_short"
    stranger = await make_user(session, name="路人")
    outsider = body | {"phone": stranger.phone}
    refused = await client.post(
        f"{API}/provider/practitioners", json=outsider, headers=clinic.headers
    )
    assert refused.status_code == 422
    ok = await client.post(f"{API}/provider/practitioners", json=body, headers=clinic.headers)
    assert ok.status_code == 201, ok.text
    # staff may run sessions but not register practitioners
    _, staff = await a_practitioner(client, session, clinic, "pharmacist", name="药师")
    staff_try = await client.post(f"{API}/provider/practitioners", json=body, headers=staff.headers)
    assert staff_try.status_code == 403


async def test_slots_skip_days_off_and_leave(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session)
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    for weekday in range(7):
        added = await client.post(
            f"{API}/provider/practitioners/{teacher}/schedule",
            json={
                "title": f"课{weekday}",
                "weekday": weekday,
                "start": "19:00",
                "duration_minutes": 45,
                "kind": "class",
                "capacity": 8,
            },
            headers=provider.headers,
        )
        assert added.status_code == 201, added.text
    overlap = await client.post(
        f"{API}/provider/practitioners/{teacher}/schedule",
        json={"title": "x", "weekday": 0, "start": "19:30", "duration_minutes": 30},
        headers=provider.headers,
    )
    assert overlap.json()["error"]["code"] == "schedule_overlap"
    leave = await client.post(
        f"{API}/provider/practitioners/{teacher}/leave",
        json={"first_day": "2026-12-02", "last_day": "2026-12-02", "reason": "培训"},
        headers=provider.headers,
    )
    assert leave.status_code == 201, leave.text
    two_weeks = {"first_day": MONDAY.isoformat(), "last_day": (MONDAY + timedelta(13)).isoformat()}
    made = await client.post(
        f"{API}/provider/practitioners/{teacher}/slots", json=two_weeks, headers=provider.headers
    )
    assert made.status_code == 201, made.text
    # 10 working days in the two weeks (no holiday then), less the day of leave
    assert len(made.json()) == 9
    assert "2026-12-02T11:00:00Z" not in {s["starts_at"] for s in made.json()}
    again = await client.post(
        f"{API}/provider/practitioners/{teacher}/slots", json=two_weeks, headers=provider.headers
    )
    assert again.json() == []  # made once
    public = await client.get(f"{API}/slots", params={"practitioner_id": teacher})
    assert len(public.json()) == 9
    too_long = {"first_day": "2026-12-01", "last_day": "2027-03-01"}
    refused = await client.post(
        f"{API}/provider/practitioners/{teacher}/slots", json=too_long, headers=provider.headers
    )
    assert refused.status_code == 422

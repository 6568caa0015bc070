"""Arranging services tests: a verified provider with its licence, practitioners registered
through the API, a week's schedule and its slots, residents with bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation, User
from linli.files.models import StoredFile
from linli.merchants.models import Licence
from linli.services.room import credential_tail
from tests.catalog.helpers import add_profile
from tests.factories import grant, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer

API = "/api/v1/services"
MONDAY = date(2026, 11, 30)  # the frozen clock is Thursday 26 November 2026, 10:00 in Shanghai


@dataclass
class Provider:
    owner: User
    organisation: Organisation
    headers: dict[str, str]


@dataclass
class Person:
    user: User
    headers: dict[str, str]


async def add_licence(session: AsyncSession, organisation: Organisation, kind: str) -> None:
    stored = StoredFile(
        sha256="0" * 64,
        content_type="application/pdf",
        size=1,
        original_name="licence.pdf",
        purpose="licence",
        public=False,
        owner_organisation_id=organisation.id,
        created_at=clock.now(),
    )
    session.add(stored)
    await session.flush()
    today = clock.now().date()
    session.add(
        Licence(
            organisation_id=organisation.id,
            licence_type=kind,
            number="L-1",
            valid_from=today - timedelta(days=365),
            valid_to=today + timedelta(days=365),
            file_id=stored.id,
            created_at=clock.now(),
        )
    )
    await session.commit()


async def a_provider(
    session: AsyncSession,
    *,
    licences: tuple[str, ...] = ("medical_institution", "training_school"),
    name: str = "邻里健康学堂",
) -> Provider:
    owner = await make_user(session, name="院长")
    organisation = await make_org(session, "merchant", owner=owner, name=name)
    await add_profile(session, organisation, scope=("groceries",))
    for kind in licences:
        await add_licence(session, organisation, kind)
    token = await make_token(session, owner, organisation=organisation)
    return Provider(owner, organisation, bearer(token))


async def a_practitioner(
    client: httpx.AsyncClient,
    session: AsyncSession,
    provider: Provider,
    kind: str = "teacher",
    *,
    name: str = "王老师",
) -> tuple[int, Person]:
    """A staff member of the provider registered as a practitioner; their org token."""
    user = await make_user(session, name=name)
    await grant(session, provider.organisation, user, "staff")
    body: dict[str, Any] = {
        "phone": user.phone,
        "real_name": name,
        "credential_kind": kind,
        "credential_number": f"{kind[:3].upper()}-{user.id}",
    }
    if kind == "doctor":
        body["practising_since"] = "2015-07-01"
    response = await client.post(
        f"{API}/provider/practitioners", json=body, headers=provider.headers
    )
    assert response.status_code == 201, response.text
    token = await make_token(session, user, organisation=provider.organisation)
    return response.json()["id"], Person(user, bearer(token))


async def a_slot(
    client: httpx.AsyncClient,
    provider: Provider,
    practitioner_id: int,
    *,
    day: date = MONDAY,
    start: str = "09:00",
    minutes: int = 60,
    kind: str = "class",
    capacity: int = 10,
    mode: str = "online",
    title: str = "少儿编程",
) -> dict[str, Any]:
    """One weekly session on `day`'s weekday and its slot on `day`."""
    added = await client.post(
        f"{API}/provider/practitioners/{practitioner_id}/schedule",
        json={
            "title": title,
            "weekday": day.weekday(),
            "start": start,
            "duration_minutes": minutes,
            "kind": kind,
            "mode": mode,
            "capacity": capacity,
        },
        headers=provider.headers,
    )
    assert added.status_code == 201, added.text
    made = await client.post(
        f"{API}/provider/practitioners/{practitioner_id}/slots",
        json={"first_day": day.isoformat(), "last_day": day.isoformat()},
        headers=provider.headers,
    )
    assert made.status_code == 201, made.text
    slots = [s for s in made.json() if s["title"] == title]
    assert len(slots) == 1, made.text
    return dict(slots[0])


async def people(session: AsyncSession, n: int) -> list[Person]:
    made = []
    for i in range(n):
        user = await make_user(session, name=f"居民{i}")
        token = await make_token(session, user, scopes=("account", "resident"))
        made.append(Person(user, bearer(token)))
    return made


# The diagnosis document of a physical institution a follow-up consultation is booked with.
DIAGNOSIS = {
    "institution": "上海市第六人民医院",
    "diagnosed_on": "2026-10-12",
    "condition": "2型糖尿病",
}


async def book(
    client: httpx.AsyncClient,
    person: Person,
    slot_id: int,
    diagnosis: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"slot_id": slot_id}
    if diagnosis is not None:
        body["diagnosis"] = diagnosis
    return await client.post(f"{API}/bookings", json=body, headers=person.headers)


async def count(app: FastAPI, model: Any, *conditions: Any) -> int:
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


async def confirm_identity(client: httpx.AsyncClient, person: Person, slot_id: int) -> None:
    """The slot's practitioner's real-name check before the session (the clock within its
    window): their registered real name and the last 4 characters of their credential."""
    mine = await client.get(f"{API}/provider/practitioners", headers=person.headers)
    me = next(p for p in mine.json() if p["user_id"] == person.user.id)
    done = await client.post(
        f"{API}/provider/slots/{slot_id}/identity",
        json={
            "real_name": me["real_name"],
            "credential_last4": credential_tail(me["credential_number"]),
        },
        headers=person.headers,
    )
    assert done.status_code == 201, done.text

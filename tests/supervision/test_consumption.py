"""Consumption statistics: paid amounts (net of refunds) and purchases by consumption type,
from group buying, live selling, course enrolments and consultations, for a period of Shanghai
days; the platform sees every seller, a regulator the sellers registered in its jurisdiction,
anyone else is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.clock import FrozenClock
from linli.config import Settings
from tests.factories import login, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer, live_in, pay, residents
from tests.groupbuy.test_fulfilment import a_world, buy, past_cutoff
from tests.live_selling.helpers import a_studio
from tests.live_selling.helpers import buy as buy_live
from tests.services.helpers import (
    API,
    a_practitioner,
    a_provider,
    a_slot,
    book,
    confirm_identity,
    people,
)
from tests.services.test_catalogue import WEDNESDAY, WEDNESDAY_END
from tests.services.test_courses import course_body, weekly

URL = "/api/v1/supervision/consumption"
ALL_DAYS = {"first": "2026-11-26", "last": "2026-11-30"}


@dataclass
class Readers:
    near: dict[str, str]  # the Shanghai regulator: the shops are registered there
    far: dict[str, str]  # the Hangzhou regulator: the school and clinic are registered there
    platform: dict[str, str]
    platform_org_read: dict[str, str]
    merchant: dict[str, str]
    resident: dict[str, str]


async def register(session: AsyncSession, organisation: Organisation, province: str) -> None:
    row = await session.get(Organisation, organisation.id)
    assert row is not None
    row.province_code = province
    await session.commit()


async def a_market(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> Readers:
    """Thursday 26 November 2026: course enrolments paid (one refunded in full), group-buying
    orders paid (one line's group fails, one order's whole group fails), a live order paid
    (another left unpaid); Friday the cut-off refunds the failed groups; Monday 30 November a
    consultation is held in person."""
    provider = await a_provider(session)  # a school and clinic in Hangzhou
    await register(session, provider.organisation, "330000")
    teacher, _ = await a_practitioner(client, session, provider, "teacher")
    doctor, doctor_person = await a_practitioner(client, session, provider, "doctor", name="李医生")
    lessons = await weekly(client, provider, teacher, WEDNESDAY, WEDNESDAY_END)
    course = await client.post(
        f"{API}/provider/courses",
        json=course_body(lessons, WEDNESDAY, WEDNESDAY_END, 10_000) | {"category": "arts_training"},
        headers=provider.headers,
    )
    assert course.status_code == 201, course.text
    keeps, quits, patient = await people(session, 3)
    enrolments = {}
    for pupil in (keeps, quits):
        enrolled = await client.post(
            f"{API}/courses/{course.json()['id']}/enrol", headers=pupil.headers
        )
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["enrolment"]["amount_fen"] == 50_000  # five Wednesdays
        await pay(
            client,
            settings,
            {"public_id": enrolled.json()["payment_public_id"], "amount_fen": 50_000},
        )
        enrolments[pupil.user.id] = enrolled.json()["enrolment"]["id"]
    await app.state.dispatcher.run_once()
    refunded = await client.post(
        f"{API}/enrolments/{enrolments[quits.user.id]}/refund", headers=quits.headers
    )
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded_classes"] == 5
    visit = await a_slot(
        client, provider, doctor, kind="consultation", capacity=1, mode="offline", title="复诊"
    )
    booked = await book(client, patient, visit["id"])
    assert booked.status_code == 201, booked.text

    # Group buying in Shanghai: rice 15.00 and oil 45.00 a unit, groups of two per point.
    gb = await a_world(client, session, threshold=2)
    await register(session, gb.shop.organisation, "310000")
    rice, oil = gb.items
    busy, quiet = gb.points
    buyer, neighbour, viewer, dawdler = await residents(session, 4)
    await live_in(session, buyer.user, busy.id)
    await live_in(session, neighbour.user, quiet.id)
    await buy(client, settings, buyer, gb, [(rice, 2), (oil, 1)], busy)  # oil's group fails
    await buy(client, settings, neighbour, gb, [(oil, 1)], quiet)  # refunded in full
    # Live selling in Shanghai: 3 × 9.90 paid, 2 left unpaid.
    studio = await a_studio(client, session)
    await register(session, studio.shop.organisation, "310000")
    bought = await buy_live(client, viewer.headers, studio, quantity=3)
    assert bought.status_code == 201, bought.text
    await pay(client, settings, bought.json()["payment"])
    unpaid = await buy_live(client, dawdler.headers, studio, quantity=2)
    assert unpaid.status_code == 201, unpaid.text
    await past_cutoff(app, frozen_clock)

    frozen_clock.set(datetime.fromisoformat(visit["starts_at"]) + timedelta(minutes=1))
    await confirm_identity(client, doctor_person, visit["id"])
    for step in ("check-in", "complete"):
        done = await client.post(
            f"{API}/provider/bookings/{booked.json()['id']}/{step}", headers=provider.headers
        )
        assert done.status_code == 200, done.text

    officer = await make_user(session, name="市监局")
    far_officer = await make_user(session, name="外地")
    operator = await make_user(session, name="运营")
    near = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    far = await make_org(
        session, "regulator", owner=far_officer, name="杭州市场监管局", province_code="330000"
    )
    platform = await make_org(session, "platform", owner=operator, role="operator")
    shop = gb.shop
    return Readers(
        near=bearer(await make_token(session, officer, organisation=near)),
        far=bearer(await make_token(session, far_officer, organisation=far)),
        platform=bearer(await make_token(session, operator, organisation=platform)),
        platform_org_read=bearer(
            await make_token(session, operator, organisation=platform, scopes=("org:read",))
        ),
        merchant=bearer(await make_token(session, shop.owner, organisation=shop.organisation)),
        resident=buyer.headers,
    )


def figures(body: dict[str, Any]) -> dict[str, tuple[int, int, dict[str, tuple[int, int]]]]:
    """Per consumption type: (amount, count, {source: (amount, count)})."""
    return {
        t["consumption_type"]: (
            t["amount_fen"],
            t["count"],
            {s["source"]: (s["amount_fen"], s["count"]) for s in t["sources"]},
        )
        for t in body["types"]
    }


NOTHING: tuple[int, int, dict[str, tuple[int, int]]] = (0, 0, {})
TYPES = ("information", "smart", "health", "essentials", "culture_tourism", "education", "medical")


async def test_the_figures_count_goods_and_services_in_each_readers_scope(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    readers = await a_market(app, client, session, settings, frozen_clock)

    everything = await client.get(URL, params=ALL_DAYS, headers=readers.platform)
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert (body["first"], body["last"], body["scope"], body["region_code"]) == (
        "2026-11-26",
        "2026-11-30",
        "platform",
        None,
    )
    goods = (
        2 * 1500 + 3 * 990,  # rice kept (oil refunded at the cut-off); the live order
        2,  # the neighbour's order was refunded in full: not a purchase
        {"groupbuy": (3000, 1), "live": (2970, 1)},
    )
    school = (50_000, 1, {"courses": (50_000, 1)})  # the other enrolment was refunded
    clinic = (0, 1, {"consultations": (0, 1)})  # held, no fee
    assert figures(body) == {t: NOTHING for t in TYPES} | {
        "essentials": goods,
        "education": school,
        "medical": clinic,
    }
    assert (body["amount_fen"], body["count"]) == (55_970, 4)
    names = {t["consumption_type"]: (t["name_en"], t["name_zh"]) for t in body["types"]}
    assert names["education"] == ("Education services", "教育服务")

    near = (await client.get(URL, params=ALL_DAYS, headers=readers.near)).json()
    assert (near["scope"], near["region_code"]) == ("regulator", "310000")
    assert figures(near) == {t: NOTHING for t in TYPES} | {"essentials": goods}
    far = (await client.get(URL, params=ALL_DAYS, headers=readers.far)).json()
    assert far["region_code"] == "330000"
    assert figures(far) == {t: NOTHING for t in TYPES} | {"education": school, "medical": clinic}

    # Days: the payments were made on the 26th, the consultation held on the 30th.
    thursday = await client.get(
        URL, params={"first": "2026-11-26", "last": "2026-11-26"}, headers=readers.platform
    )
    assert thursday.json()["amount_fen"] == 55_970
    assert figures(thursday.json())["medical"] == NOTHING
    monday = await client.get(
        URL, params={"first": "2026-11-27", "last": "2026-11-30"}, headers=readers.platform
    )
    assert (monday.json()["amount_fen"], monday.json()["count"]) == (0, 1)

    # Nobody else reads them; the platform's need the "platform" scope.
    for headers in (readers.merchant, readers.resident, readers.platform_org_read):
        refused = await client.get(URL, params=ALL_DAYS, headers=headers)
        assert refused.status_code == 403, refused.text
    assert (await client.get(URL)).status_code == 401
    backwards = await client.get(
        URL, params={"first": "2026-11-30", "last": "2026-11-26"}, headers=readers.platform
    )
    assert backwards.status_code == 422
    assert "first" in backwards.json()["error"]["fields"]
    too_long = await client.get(
        URL, params={"first": "2025-01-01", "last": "2026-11-26"}, headers=readers.platform
    )
    assert too_long.status_code == 422
    for far_off in ("0001-01-01", "9999-12-31"):
        out_of_range = await client.get(URL, params={"last": far_off}, headers=readers.platform)
        assert out_of_range.status_code == 422, out_of_range.text
        assert "last" in out_of_range.json()["error"]["fields"]


async def test_the_page_shows_the_regulators_figures_in_both_languages(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    await a_market(app, client, session, settings, frozen_clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        officer = await make_user(session, name="市监局二")
        regulator = await make_org(session, "regulator", owner=officer, province_code="330000")
        await login(browser, officer, organisation=regulator)
        page = await browser.get("/supervision/consumption", params=ALL_DAYS)
        assert page.status_code == 200, page.text
        assert 'data-type="education" data-amount="50000" data-count="1"' in page.text
        assert 'data-source="consultations" data-amount="0" data-count="1"' in page.text
        assert 'data-type="essentials" data-amount="0" data-count="0"' in page.text
        assert "¥500.00" in page.text
        assert "Education services" in page.text
        chinese = await browser.get(
            "/supervision/consumption",
            params=ALL_DAYS,
            headers={"Accept-Language": "zh-CN"},
        )
        assert "教育服务" in chinese.text
        wrong = await browser.get("/supervision/consumption", params={"first": "tomorrow"})
        assert wrong.status_code == 200
        assert "Enter a date." in wrong.text

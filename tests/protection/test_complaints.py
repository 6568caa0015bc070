"""Complaints, 12315 style, from the outside (HTTP): the acceptance clock across the 2026
Spring Festival, the 45-working-day mediation limit closed by the due job, escalation from
the platform to the regulator, who may see and do what, hostile text, bad transitions."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation, User
from linli.clock import FrozenClock
from linli.community.models import PickupPoint
from linli.files.models import StoredFile
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.protection import complaints
from linli.protection.complaint_models import Complaint, ComplaintStep
from tests.factories import form_login, grant, make_org, make_token, make_user, png_bytes
from tests.files.test_service import GPS_IFD, jpeg_with_location
from tests.groupbuy.helpers import (
    Resident,
    Shop,
    a_pickup_point,
    a_shop,
    bearer,
    count,
    item,
    listed_sku,
    order,
    published_campaign,
    residents,
)
from tests.groupbuy.test_fulfilment_pages import browser

API = "/api/v1/protection/complaints"
DISTRICT = "310115"  # Pudong, Shanghai


@dataclass
class World:
    shop: Shop
    buyer: Resident
    order_id: int
    line_id: int
    leader: User
    leader_headers: dict[str, str]
    regulator: Organisation
    regulator_headers: dict[str, str]
    operator_headers: dict[str, str]


def region(district: str) -> dict[str, str]:
    return {
        "province_code": district[:2] + "0000",
        "city_code": district[:4] + "00",
        "district_code": district,
    }


async def _located(session: AsyncSession, organisation: Organisation, district: str) -> None:
    organisation.province_code = district[:2] + "0000"
    organisation.city_code = district[:4] + "00"
    organisation.district_code = district
    session.add(organisation)
    await session.commit()


async def a_world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    """A merchant in Pudong with one order by a resident at a led pickup point, Pudong's
    regulator (a supervisor's token) and a platform operator."""
    shop = await a_shop(client, session)
    await _located(session, shop.organisation, DISTRICT)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku))
    point_id = await a_pickup_point(session)
    leader = await make_user(session, name="团长")
    point = await session.get(PickupPoint, point_id)
    assert point is not None
    point.leader_user_id = leader.id
    await session.commit()
    (buyer,) = await residents(session, 1)
    placed = await order(
        client, buyer, campaign["id"], [(campaign["items"][0]["id"], 1)], point_id=point_id
    )
    assert placed.status_code == 201, placed.text
    body = placed.json()["order"]
    supervisor = await make_user(session, name="监管员")
    regulator = await make_org(
        session, "regulator", name="浦东新区市场监管局", owner=supervisor, **region(DISTRICT)
    )
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    return World(
        shop=shop,
        buyer=buyer,
        order_id=body["id"],
        line_id=body["lines"][0]["id"],
        leader=leader,
        leader_headers=bearer(await make_token(session, leader, scopes=("account", "leader"))),
        regulator=regulator,
        regulator_headers=bearer(await make_token(session, supervisor, organisation=regulator)),
        operator_headers=bearer(await make_token(session, operator, organisation=platform)),
    )


async def file(
    client: httpx.AsyncClient, w: World, *, to: str = "regulator", **body: Any
) -> dict[str, Any]:
    sent = {"order_id": w.order_id, "target": "merchant", "text": "西瓜是坏的", "to": to}
    response = await client.post(API, json=sent | body, headers=w.buyer.headers)
    assert response.status_code == 201, response.text
    filed: dict[str, Any] = response.json()
    return filed


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=clock.LOCAL)


async def events(app: FastAPI, name: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.event_type == name)
            .order_by(OutboxEvent.seq)
        )
        return [dict(r) for r in rows]


async def snapshot(app: FastAPI, complaint_id: int) -> tuple[Any, ...]:
    async with app.state.sessionmaker() as s:
        row = await s.get(Complaint, complaint_id)
        assert row is not None
        steps = await s.scalar(
            select(func.count())
            .select_from(ComplaintStep)
            .where(ComplaintStep.complaint_id == complaint_id)
        )
        return (row.status, row.outcome, row.decider, row.accepted_at, row.mediation_by, steps)


# --- clocks -----------------------------------------------------------------------------------


async def test_acceptance_is_due_on_the_seventh_working_day_across_the_spring_festival(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """Filed on Friday 13 February 2026: Saturday 14 February is an adjusted working day
    (调休), 15-23 February the Spring Festival holiday, Saturday 28 February another adjusted
    working day: the seventh working day is Monday 2 March."""
    frozen_clock.set(local(2026, 2, 13, 10, 0))
    w = await a_world(client, session)
    filed = await file(client, w)
    assert datetime.fromisoformat(filed["accept_by"]) == local(2026, 3, 2, 23, 59, 59)
    assert filed["rule_id"] == "consumer.complaint"
    assert filed["rule_version"] == 1
    assert filed["calendar"].startswith("calendar.working_days@")
    (event,) = await events(app, "protection.ComplaintFiled")
    assert event["subject_organisation_id"] == w.shop.organisation.id
    assert event["regulator_organisation_id"] == w.regulator.id
    assert event["rule"] == "consumer.complaint@1"

    frozen_clock.set(local(2026, 3, 2, 23, 0))  # the last day: still in time
    await app.state.dispatcher.run_once()
    assert await events(app, "protection.ComplaintAcceptanceOverdue") == []
    frozen_clock.set(local(2026, 3, 3, 0, 0))
    await app.state.dispatcher.run_once()
    (overdue,) = await events(app, "protection.ComplaintAcceptanceOverdue")
    assert overdue["complaint_id"] == filed["id"]
    read = await client.get(f"{API}/{filed['id']}", headers=w.regulator_headers)
    body = read.json()
    assert body["status"] == "filed"
    assert body["acceptance_overdue_at"] is not None
    assert [s["kind"] for s in body["timeline"]] == ["filed", "acceptance_overdue"]
    # Late, the regulator still decides; the flag stays on the record.
    accepted = await client.post(f"{API}/{filed['id']}/accept", headers=w.regulator_headers)
    assert accepted.status_code == 200, accepted.text


async def test_mediation_closes_as_not_mediated_after_45_working_days(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """Accepted on Monday 2 March 2026: the 45th working day after it, skipping Qingming
    (Monday 6 April) and Labour Day (1-5 May), is Friday 8 May; the case is closed by the
    due job at the end of that day, not before."""
    frozen_clock.set(local(2026, 2, 27, 9, 0))
    w = await a_world(client, session)
    filed = await file(client, w)
    frozen_clock.set(local(2026, 3, 2, 9, 0))
    accepted = await client.post(f"{API}/{filed['id']}/accept", headers=w.regulator_headers)
    assert accepted.status_code == 200, accepted.text
    mediation_by = datetime.fromisoformat(accepted.json()["mediation_by"])
    assert mediation_by == local(2026, 5, 8, 23, 59, 59)
    from linli.rules import workdays

    async with app.state.sessionmaker() as s:
        calendar = await workdays.load(s)
    expected_day = calendar.add_working_days(local(2026, 3, 2, 9, 0).date(), 45)
    assert mediation_by == datetime.combine(
        expected_day, datetime.max.time().replace(microsecond=0), tzinfo=clock.LOCAL
    )
    assert calendar.working_days_between(local(2026, 3, 2).date(), expected_day) == 45
    started = await client.post(f"{API}/{filed['id']}/mediate", headers=w.regulator_headers)
    assert started.json()["status"] == "in_mediation"

    frozen_clock.set(mediation_by - timedelta(minutes=1))
    await app.state.dispatcher.run_once()
    assert (await snapshot(app, filed["id"]))[0] == "in_mediation"
    frozen_clock.set(mediation_by + timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    read = (await client.get(f"{API}/{filed['id']}", headers=w.buyer.headers)).json()
    assert (read["status"], read["outcome"]) == ("resolved", "not_mediated")
    assert read["timeline"][-1]["role"] == "system"
    (resolved,) = await events(app, "protection.ComplaintResolved")
    assert resolved["outcome"] == "not_mediated"
    assert resolved["subject_organisation_id"] == w.shop.organisation.id


# --- escalation and the whole path ------------------------------------------------------------


async def test_a_platform_refusal_escalated_to_the_regulator_and_mediated(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(local(2026, 6, 1, 10, 0))  # a Monday
    w = await a_world(client, session)
    filed = await file(client, w, to="platform", target="leader")
    assert filed["decider"] == "platform"
    assert filed["subject_leader_user_id"] == w.leader.id
    queue = await client.get(f"{API}/platform", headers=w.operator_headers)
    assert [c["id"] for c in queue.json()] == [filed["id"]]
    # Not the regulator's until escalated.
    hidden = await client.get(f"{API}/{filed['id']}", headers=w.regulator_headers)
    assert hidden.status_code == 404
    refused = await client.post(
        f"{API}/{filed['id']}/refuse", json={"reason": "证据不足"}, headers=w.operator_headers
    )
    assert refused.json()["status"] == "refused"

    frozen_clock.set(local(2026, 6, 5, 10, 0))  # Friday; 19 June is the Dragon Boat holiday
    escalated = await client.post(
        f"{API}/{filed['id']}/escalate", json={"reason": "我不同意"}, headers=w.buyer.headers
    )
    assert escalated.status_code == 200, escalated.text
    body = escalated.json()
    assert (body["decider"], body["status"]) == ("regulator", "filed")
    assert body["regulator_organisation_id"] == w.regulator.id
    assert datetime.fromisoformat(body["accept_by"]) == local(2026, 6, 16, 23, 59, 59)
    (event,) = await events(app, "protection.ComplaintEscalated")
    assert event["subject_leader_user_id"] == w.leader.id
    # The operators still see the case they decided; the regulator now decides it.
    assert (await client.get(f"{API}/{filed['id']}", headers=w.operator_headers)).status_code == 200
    not_theirs = await client.post(f"{API}/{filed['id']}/accept", headers=w.operator_headers)
    assert (not_theirs.status_code, not_theirs.json()["error"]["code"]) == (403, "not_decider")
    listed = await client.get(f"{API}/jurisdiction", headers=w.regulator_headers)
    assert [c["id"] for c in listed.json()] == [filed["id"]]

    for step in ("accept", "mediate"):
        done = await client.post(f"{API}/{filed['id']}/{step}", headers=w.regulator_headers)
        assert done.status_code == 200, done.text
    reply = await client.post(
        f"{API}/{filed['id']}/messages", json={"text": "我愿意道歉"}, headers=w.leader_headers
    )
    assert (reply.status_code, reply.json()["role"]) == (201, "leader")
    resolved = await client.post(
        f"{API}/{filed['id']}/resolve",
        json={"outcome": "mediated", "text": "团长道歉并赔偿20元"},
        headers=w.regulator_headers,
    )
    body = resolved.json()
    assert (body["status"], body["outcome"]) == ("resolved", "mediated")
    assert body["outcome_text"] == "团长道歉并赔偿20元"
    assert [s["kind"] for s in body["timeline"]] == [
        "filed",
        "refused",
        "escalated",
        "accepted",
        "mediation_started",
        "message",
        "resolved",
    ]
    again = await client.post(
        f"{API}/{filed['id']}/escalate", json={"reason": "再来"}, headers=w.buyer.headers
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "complaint_status")

    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        told = set(
            await s.scalars(
                select(Notification.user_id).where(Notification.kind == "complaint_resolved")
            )
        )
    assert {w.buyer.user.id, w.leader.id} <= told
    async with app.state.sessionmaker() as s:
        notice = await s.scalar(
            select(Notification).where(
                Notification.kind == "complaint_resolved",
                Notification.user_id == w.buyer.user.id,
            )
        )
    assert notice is not None
    assert notice.body == "The complaint about order #{order_id} was mediated: the parties agreed."
    assert notice.link == f"/protection/complaints/{filed['id']}"
    assert w.shop.owner.id not in told  # a complaint about the leader is not the merchant's


# --- who sees what ----------------------------------------------------------------------------


async def test_only_the_parties_see_a_complaint(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    filed = await file(client, w)
    about_leader = await file(client, w, target="leader")
    url = f"{API}/{filed['id']}"

    other_shop = await a_shop(client, session, name="别家")
    (stranger,) = await residents(session, 1)
    elsewhere_boss = await make_user(session, name="别处监管")
    elsewhere = await make_org(
        session, "regulator", owner=elsewhere_boss, name="徐汇区局", **region("310104")
    )
    elsewhere_headers = bearer(await make_token(session, elsewhere_boss, organisation=elsewhere))
    for outsider in (
        stranger.headers,
        other_shop.headers,
        elsewhere_headers,
        w.leader_headers,  # the leader is not complained about here
        w.operator_headers,  # a regulator's case, not a platform dispute
    ):
        assert (await client.get(url, headers=outsider)).status_code == 404
        attempt = await client.post(f"{url}/messages", json={"text": "x"}, headers=outsider)
        assert attempt.status_code == 404
    for party in (w.buyer.headers, w.shop.headers, w.regulator_headers):
        assert (await client.get(url, headers=party)).status_code == 200
    # About the leader: the leader is a party, the merchant is not.
    leader_url = f"{API}/{about_leader['id']}"
    assert (await client.get(leader_url, headers=w.leader_headers)).status_code == 200
    assert (await client.get(leader_url, headers=w.shop.headers)).status_code == 404

    assert [
        c["id"] for c in (await client.get(f"{API}/mine", headers=stranger.headers)).json()
    ] == []
    ours = await client.get(f"{API}/about-us", headers=w.shop.headers)
    assert [c["id"] for c in ours.json()] == [filed["id"]]
    assert (await client.get(f"{API}/about-us", headers=other_shop.headers)).json() == []
    assert (await client.get(f"{API}/jurisdiction", headers=elsewhere_headers)).json() == []
    mine = await client.get(f"{API}/about-me", headers=w.leader_headers)
    assert [c["id"] for c in mine.json()] == [about_leader["id"]]
    # Parties who do not decide cannot decide.
    for party in (w.buyer.headers, w.shop.headers):
        refused = await client.post(f"{url}/accept", headers=party)
        assert refused.status_code == 403
    # Someone else's order: as if it did not exist.
    theirs = await client.post(
        API,
        json={"order_id": w.order_id, "target": "order", "text": "x", "to": "platform"},
        headers=stranger.headers,
    )
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "order_not_found")


async def test_attachments_are_served_to_the_parties_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    filed = await file(client, w)
    uploaded = await client.post(
        f"{API}/{filed['id']}/attachments",
        files={"file": ("西瓜.png", png_bytes(), "image/png")},
        data={"note": "照片"},
        headers=w.buyer.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["file_id"]
    url = f"{API}/{filed['id']}/attachments/{file_id}"
    for party in (w.buyer.headers, w.shop.headers, w.regulator_headers):
        served = await client.get(url, headers=party)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/png"
    (stranger,) = await residents(session, 1)
    assert (await client.get(url, headers=stranger.headers)).status_code == 404
    # A file not on this complaint is not served through it.
    other = await file(client, w, target="order")
    assert (
        await client.get(f"{API}/{other['id']}/attachments/{file_id}", headers=w.buyer.headers)
    ).status_code == 404
    refused = await client.post(
        f"{API}/{filed['id']}/attachments",
        files={"file": ("x.html", b"<html><script>1</script></html>", "text/html")},
        headers=w.buyer.headers,
    )
    assert refused.status_code == 422
    # Never through /files (a page: sessions): not to the uploader, the merchant or a platform
    # operator (who reviews files, but is no party to this regulator's complaint).
    platform = await session.scalar(select(Organisation).where(Organisation.kind == "platform"))
    assert platform is not None
    reviewer = await make_user(session, name="审核员")
    await grant(session, platform, reviewer, "operator")
    for who, org in (
        (w.buyer.user, None),
        (w.shop.owner, w.shop.organisation),
        (reviewer, platform),
    ):
        async with browser(app, who, org) as (page, _csrf):
            assert (await page.get(f"/files/{file_id}")).status_code == 404
    assert (await client.get(url, headers=w.operator_headers)).status_code == 404
    # The merchant's own attachment: its other members read it through the complaint (they
    # are the party), not through /files as the organisation's file.
    theirs = await client.post(
        f"{API}/{filed['id']}/attachments",
        files={"file": ("发票.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
        headers=w.shop.headers,
    )
    assert theirs.status_code == 201, theirs.text
    staff = await make_user(session, name="店员")
    await grant(session, w.shop.organisation, staff, "staff")
    staff_headers = bearer(await make_token(session, staff, organisation=w.shop.organisation))
    invoice = theirs.json()["file_id"]
    for who in (staff, w.shop.owner):
        async with browser(app, who, w.shop.organisation) as (page, _csrf):
            assert (await page.get(f"/files/{invoice}")).status_code == 404
    for party in (staff_headers, w.buyer.headers, w.regulator_headers):
        served = await client.get(f"{API}/{filed['id']}/attachments/{invoice}", headers=party)
        assert served.status_code == 200, served.text
    # A platform dispute: the platform's operators are the deciding party and read it there.
    platform_case = await file(client, w, target="leader", to="platform")
    shared = await client.post(
        f"{API}/{platform_case['id']}/attachments",
        files={"file": ("瓜.png", png_bytes(), "image/png")},
        headers=w.buyer.headers,
    )
    assert shared.status_code == 201, shared.text
    case_url = f"{API}/{platform_case['id']}/attachments/{shared.json()['file_id']}"
    assert (await client.get(case_url, headers=w.operator_headers)).status_code == 200
    assert (await client.get(case_url, headers=w.regulator_headers)).status_code == 404


# --- bad input, bad transitions ---------------------------------------------------------------


async def test_bad_transitions_are_409_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    filed = await file(client, w)
    url = f"{API}/{filed['id']}"
    before = await snapshot(app, filed["id"])
    for step, body in (
        ("resolve", {"outcome": "upheld", "text": ""}),
        ("mediate", None),
    ):
        answer = await client.post(f"{url}/{step}", json=body, headers=w.regulator_headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (409, "complaint_status")
        assert "filed" in answer.json()["error"]["message"]
    escalate = await client.post(f"{url}/escalate", json={"reason": "x"}, headers=w.buyer.headers)
    assert escalate.status_code == 409
    assert await snapshot(app, filed["id"]) == before

    await client.post(f"{url}/accept", headers=w.regulator_headers)
    accepted = await snapshot(app, filed["id"])
    for step, body in (
        ("accept", None),
        ("refuse", {"reason": "太晚"}),
        ("resolve", {"outcome": "mediated", "text": "协议"}),  # mediated needs mediation
    ):
        answer = await client.post(f"{url}/{step}", json=body, headers=w.regulator_headers)
        assert answer.status_code == 409, (step, answer.text)
    assert await snapshot(app, filed["id"]) == accepted

    rejected = await client.post(
        f"{url}/resolve", json={"outcome": "rejected", "text": ""}, headers=w.regulator_headers
    )
    assert rejected.status_code == 422  # reasons are required
    withdrawn = await client.post(f"{url}/withdraw", json={}, headers=w.buyer.headers)
    assert (withdrawn.json()["status"], withdrawn.json()["outcome"]) == ("resolved", "withdrawn")
    done = await snapshot(app, filed["id"])
    for step, headers, body in (
        ("withdraw", w.buyer.headers, {}),
        ("messages", w.shop.headers, {"text": "太晚了"}),
        ("escalate", w.buyer.headers, {"reason": "x"}),  # a regulator's case, and withdrawn
    ):
        answer = await client.post(f"{url}/{step}", json=body, headers=headers)
        assert answer.status_code == 409, (step, answer.text)
    assert await snapshot(app, filed["id"]) == done


async def test_filing_checks_what_the_complaint_names(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    base = {"order_id": w.order_id, "text": "坏了", "to": "platform"}
    no_line = await client.post(API, json=base | {"target": "product"}, headers=w.buyer.headers)
    assert no_line.status_code == 422
    assert "line_id" in no_line.json()["error"]["fields"]
    product = await file(client, w, target="product", line_id=w.line_id, to="platform")
    assert product["product_name"] == "东北大米"
    twice = await client.post(
        API, json=base | {"target": "product", "line_id": w.line_id}, headers=w.buyer.headers
    )
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "complaint_open")
    too_long = await client.post(
        API, json=base | {"target": "order", "text": "长" * 2001}, headers=w.buyer.headers
    )
    assert too_long.status_code == 422
    control = await client.post(
        API, json=base | {"target": "order", "text": "a\x00b"}, headers=w.buyer.headers
    )
    assert control.status_code == 422
    # A merchant no regulator covers: the regulator cannot be chosen.
    w.shop.organisation.district_code = "440305"
    w.shop.organisation.city_code = "440300"
    w.shop.organisation.province_code = "440000"
    session.add(w.shop.organisation)
    await session.commit()
    uncovered = await client.post(
        API, json=base | {"target": "order", "to": "regulator"}, headers=w.buyer.headers
    )
    assert (uncovered.status_code, uncovered.json()["error"]["code"]) == (422, "no_regulator")
    async with app.state.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 1


async def test_a_city_regulator_covers_a_district_without_its_own(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    await _located(session, w.shop.organisation, "310104")  # Xuhui: no district regulator
    boss = await make_user(session, name="市局")
    city = await make_org(
        session, "regulator", owner=boss, name="上海市市场监管局", city_code="310100"
    )
    filed = await file(client, w)
    assert filed["regulator_organisation_id"] == city.id


# --- pages --------------------------------------------------------------------------------------


async def test_pages_show_the_complaint_escaped_to_its_parties(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    filed = await file(client, w, text=hostile)
    page_client = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with page_client:
        await form_login(page_client, w.buyer.user.phone)
        mine = await page_client.get("/protection/complaints")
        assert mine.status_code == 200
        assert f'data-complaint="{filed["id"]}"' in mine.text
        page = await page_client.get(f"/protection/complaints/{filed['id']}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "&lt;script&gt;" in page.text
        new = await page_client.get(f"/protection/complaints/new?order_id={w.order_id}")
        assert new.status_code == 200
        assert "东北大米" in new.text
        order_page = await page_client.get(f"/groupbuy/orders/{w.order_id}")
        assert f"/protection/complaints/new?order_id={w.order_id}" in order_page.text


async def test_a_photo_attached_to_a_complaint_reaches_the_parties_without_its_location(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    filed = await file(client, w)
    photo = jpeg_with_location()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(GPS_IFD)
    uploaded = await client.post(
        f"{API}/{filed['id']}/attachments",
        files={"file": ("瓜.jpg", photo, "image/jpeg")},
        headers=w.buyer.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    served = await client.get(
        f"{API}/{filed['id']}/attachments/{uploaded.json()['file_id']}", headers=w.shop.headers
    )
    assert served.status_code == 200
    exif = Image.open(io.BytesIO(served.content)).getexif()
    assert not exif.get_ifd(GPS_IFD)
    assert 0x010F not in exif  # the phone's make


async def test_messages_and_attachments_are_rate_limited_per_party(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(client, session)
    filed = await file(client, w)
    url = f"{API}/{filed['id']}"
    limit = complaints.STEP_POLICY.per_complaint
    for n in range(limit - 1):
        sent = await client.post(
            f"{url}/messages", json={"text": f"第{n}条"}, headers=w.buyer.headers
        )
        assert sent.status_code < 300, sent.text
    attached = await client.post(
        f"{url}/attachments",
        files={"file": ("瓜.png", png_bytes(), "image/png")},
        headers=w.buyer.headers,
    )
    assert attached.status_code == 201  # attachments count too: this one is the last allowed
    before = await snapshot(app, filed["id"])
    files_before = await count(app, StoredFile)
    throttled = await client.post(
        f"{url}/messages", json={"text": "再说一次"}, headers=w.buyer.headers
    )
    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["error"]["code"] == "complaint_steps_throttled"
    assert "Try again in" in throttled.json()["error"]["message"]
    assert 0 < int(throttled.headers["Retry-After"]) <= 3601
    again = await client.post(
        f"{url}/attachments",
        files={"file": ("瓜.png", png_bytes(), "image/png")},
        headers=w.buyer.headers,
    )
    assert again.status_code == 429
    assert await snapshot(app, filed["id"]) == before  # no step added
    assert await count(app, StoredFile) == files_before  # nothing stored for the refused upload
    # Counted per person: the merchant still answers; an outsider is 404, never counted.
    answered = await client.post(f"{url}/messages", json={"text": "已补发"}, headers=w.shop.headers)
    assert answered.status_code < 300, answered.text
    (stranger,) = await residents(session, 1)
    outsider = await client.post(f"{url}/messages", json={"text": "x"}, headers=stranger.headers)
    assert outsider.status_code == 404
    # The window passes: the resident may write again.
    frozen_clock.advance(timedelta(seconds=int(throttled.headers["Retry-After"])))
    later = await client.post(f"{url}/messages", json={"text": "还在等"}, headers=w.buyer.headers)
    assert later.status_code < 300, later.text

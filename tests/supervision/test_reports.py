"""Reports of suspected violations from the outside (HTTP): a resident reports a merchant, the
platform forwards it to the regulator with jurisdiction, the regulator acknowledges it and
records an outcome; the reporter follows the status and is told at each step; nobody else
(another resident, the merchant, another regulator) sees the report."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.community.models import Leader
from linli.notifications.models import Notification
from linli.supervision.report_models import Report
from tests.factories import form_login, make_org, make_token, make_user, png_bytes
from tests.files.test_service import jpeg_with_location
from tests.groupbuy.helpers import bearer, residents
from tests.protection.test_complaints import World, a_world, region

REPORTS = "/api/v1/supervision/reports"


async def send(client: httpx.AsyncClient, w: World, **body: Any) -> dict[str, Any]:
    sent = {
        "merchant_organisation_id": w.shop.organisation.id,
        "description": "<script>alert(1)</script>鸡蛋过期还在卖",
        "order_id": w.order_id,
        "product_name": "鸡蛋",
    }
    response = await client.post(REPORTS, json=sent | body, headers=w.buyer.headers)
    assert response.status_code == 201, response.text
    report: dict[str, Any] = response.json()
    return report


async def inbox_kinds(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.scalars(
        select(Notification.kind).where(Notification.user_id == user_id).order_by(Notification.id)
    )
    return [k for k in rows if k.startswith("report_")]


async def test_a_report_forwarded_acknowledged_and_concluded_with_the_reporter_told(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    report = await send(client, w)
    assert report["status"] == "submitted"
    assert report["merchant_name"] == w.shop.organisation.name
    rid = report["id"]
    photo = await client.post(
        f"{REPORTS}/{rid}/photos",
        files={"file": ("egg.jpg", jpeg_with_location(), "image/jpeg")},
        headers=w.buyer.headers,
    )
    assert photo.status_code == 201, photo.text
    queue = await client.get(f"{REPORTS}/triage", headers=w.operator_headers)
    assert [r["id"] for r in queue.json()] == [rid]
    # Not forwarded yet: the regulator does not see it.
    assert (await client.get(f"{REPORTS}/{rid}", headers=w.regulator_headers)).status_code == 404
    forwarded = await client.post(f"{REPORTS}/{rid}/forward", headers=w.operator_headers)
    assert forwarded.status_code == 200, forwarded.text
    assert forwarded.json()["status"] == "forwarded"
    assert forwarded.json()["regulator_organisation_id"] == w.regulator.id
    again = await client.post(f"{REPORTS}/{rid}/forward", headers=w.operator_headers)
    assert again.status_code == 409
    theirs = await client.get(f"{REPORTS}/jurisdiction", headers=w.regulator_headers)
    assert [r["id"] for r in theirs.json()] == [rid]
    # The regulator sees the photo, without its location.
    file_id = photo.json()["file_id"]
    seen = await client.get(f"{REPORTS}/{rid}/photos/{file_id}", headers=w.regulator_headers)
    assert seen.status_code == 200
    assert b"GPS" not in seen.content
    early = await client.post(
        f"{REPORTS}/{rid}/outcome", json={"outcome": "立案调查"}, headers=w.regulator_headers
    )
    assert early.status_code == 409
    acknowledged = await client.post(f"{REPORTS}/{rid}/acknowledge", headers=w.regulator_headers)
    assert acknowledged.json()["status"] == "acknowledged"
    empty = await client.post(
        f"{REPORTS}/{rid}/outcome", json={"outcome": ""}, headers=w.regulator_headers
    )
    assert empty.status_code == 422
    concluded = await client.post(
        f"{REPORTS}/{rid}/outcome",
        json={"outcome": "已责令下架过期鸡蛋"},
        headers=w.regulator_headers,
    )
    assert concluded.status_code == 200, concluded.text
    mine = (await client.get(f"{REPORTS}/mine", headers=w.buyer.headers)).json()
    assert [(r["id"], r["status"], r["outcome"]) for r in mine] == [
        (rid, "concluded", "已责令下架过期鸡蛋")
    ]
    await app.state.dispatcher.run_once()
    assert await inbox_kinds(session, w.buyer.user.id) == [
        "report_filed",
        "report_forwarded",
        "report_acknowledged",
        "report_concluded",
    ]
    regulator_told = await session.scalar(
        select(func.count()).select_from(Notification).where(Notification.kind == "report_received")
    )
    assert regulator_told == 1
    actions = set(
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("supervision.report_%"))
        )
    )
    assert actions == {
        "supervision.report_filed",
        "supervision.report_photo_added",
        "supervision.report_forwarded",
        "supervision.report_acknowledged",
        "supervision.report_concluded",
    }


async def test_the_platform_closes_a_report_with_reasons(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    rid = (await send(client, w))["id"]
    nothing = await client.post(f"{REPORTS}/{rid}/close", json={}, headers=w.operator_headers)
    assert nothing.status_code == 422
    closed = await client.post(
        f"{REPORTS}/{rid}/close",
        json={"reason": "已由商家退款，不涉及违法"},
        headers=w.operator_headers,
    )
    assert closed.status_code == 200
    assert closed.json()["close_reason"] == "已由商家退款，不涉及违法"
    assert (await client.get(f"{REPORTS}/{rid}", headers=w.regulator_headers)).status_code == 404
    late = await client.post(
        f"{REPORTS}/{rid}/photos",
        files={"file": ("a.png", png_bytes(), "image/png")},
        headers=w.buyer.headers,
    )
    assert late.status_code == 409
    await app.state.dispatcher.run_once()
    assert await inbox_kinds(session, w.buyer.user.id) == ["report_filed", "report_closed"]


async def test_nobody_else_sees_or_acts_on_a_report(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    rid = (await send(client, w))["id"]
    (neighbour,) = await residents(session, 1)
    far_boss = await make_user(session, name="闵行科长")
    far = await make_org(session, "regulator", owner=far_boss, **region("310112"))
    far_headers = bearer(await make_token(session, far_boss, organisation=far))
    outsiders = {
        "another resident": neighbour.headers,
        "the merchant": w.shop.headers,
        "another regulator": far_headers,
        "a leader": w.leader_headers,
    }
    for who, headers in outsiders.items():
        got = await client.get(f"{REPORTS}/{rid}", headers=headers)
        assert got.status_code == 404, who
        photo = await client.post(
            f"{REPORTS}/{rid}/photos",
            files={"file": ("a.png", png_bytes(), "image/png")},
            headers=headers,
        )
        assert photo.status_code in (403, 404), who
    assert (await client.get(f"{REPORTS}/mine", headers=neighbour.headers)).json() == []
    assert (await client.get(f"{REPORTS}/mine", headers=w.shop.headers)).json() == []
    # The reporter cannot triage; a merchant and a regulator hold no triage permission.
    for headers in (w.buyer.headers, w.shop.headers, w.regulator_headers):
        assert (await client.post(f"{REPORTS}/{rid}/forward", headers=headers)).status_code == 403
    forwarded = await client.post(f"{REPORTS}/{rid}/forward", headers=w.operator_headers)
    assert forwarded.status_code == 200
    # After forwarding: still nobody else, and the far regulator cannot act on it.
    for who, headers in outsiders.items():
        assert (await client.get(f"{REPORTS}/{rid}", headers=headers)).status_code == 404, who
    ack = await client.post(f"{REPORTS}/{rid}/acknowledge", headers=far_headers)
    assert ack.status_code == 404
    assert (await client.get(f"{REPORTS}/jurisdiction", headers=far_headers)).json() == []
    # A read-only token of the right regulator reads but does not act.
    supervisor = (await session.scalars(select(Report))).one()
    assert supervisor.status == "forwarded"


async def test_bad_reports_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    (neighbour,) = await residents(session, 1)
    platform_org = await make_org(session, "supplier", name="供应商")
    cases: list[tuple[dict[str, object], str]] = [
        ({"merchant_organisation_id": 999999}, "merchant_organisation_id"),
        ({"merchant_organisation_id": platform_org.id}, "merchant_organisation_id"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"role": "merchant"}, "role"),
        ({"unknown": 1}, "unknown"),
        ({"product_name": "p" * 121}, "product_name"),
    ]
    for change, field in cases:
        body: dict[str, object] = {
            "merchant_organisation_id": w.shop.organisation.id,
            "description": "缺斤短两",
        }
        body |= change
        refused = await client.post(REPORTS, json=body, headers=w.buyer.headers)
        assert refused.status_code == 422, (change, refused.text)
        assert field in refused.text
    # Someone else's order is not theirs to name.
    other = await client.post(
        REPORTS,
        json={
            "merchant_organisation_id": w.shop.organisation.id,
            "description": "缺斤短两",
            "order_id": w.order_id,
        },
        headers=neighbour.headers,
    )
    assert other.status_code == 422
    assert "order_id" in other.text
    # Reporting as a leader needs the leader scope, and a pickup point one runs.
    body = {"merchant_organisation_id": w.shop.organisation.id, "description": "缺斤短两"}
    as_leader = body | {"role": "leader"}
    assert (await client.post(REPORTS, json=as_leader, headers=w.buyer.headers)).status_code == 403
    no_point = await client.post(REPORTS, json=as_leader, headers=w.shop.headers)
    assert no_point.status_code == 422
    assert "role" in no_point.text
    # A token without the resident or leader scope may not report.
    org_only = bearer(await make_token(session, w.buyer.user, scopes=("account",)))
    assert (await client.post(REPORTS, json=body, headers=org_only)).status_code == 403
    assert await session.scalar(select(func.count()).select_from(Report)) == 0
    # The leader (an active one) reports as a leader.
    session.add(
        Leader(user_id=w.leader.id, commission_bp=1000, approved_at=clock.now(), active=True)
    )
    await session.commit()
    led = await client.post(REPORTS, json=body | {"role": "leader"}, headers=w.leader_headers)
    assert led.status_code == 201, led.text
    assert led.json()["reporter_role"] == "leader"


async def test_pages_report_and_show_the_status_escaped_in_both_languages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    await form_login(client, w.buyer.user.phone)
    new = await client.get("/supervision/reports/new")
    assert new.status_code == 200
    assert w.shop.organisation.name in new.text
    csrf = client.cookies.get("linli_csrf") or ""
    sent = await client.post(
        "/supervision/reports/new",
        data={
            "csrf_token": csrf,
            "merchant_organisation_id": str(w.shop.organisation.id),
            "role": "resident",
            "description": "<b>短斤少两</b>",
        },
        files={"file": ("a.png", png_bytes(), "image/png")},
    )
    assert sent.status_code == 303, sent.text
    page = await client.get(sent.headers["location"])
    assert "&lt;b&gt;短斤少两&lt;/b&gt;" in page.text
    assert "<b>短斤少两" not in page.text
    assert 'data-status="submitted"' in page.text
    assert "/photos/" in page.text
    zh = await client.get(sent.headers["location"], headers={"Accept-Language": "zh-CN"})
    assert "等待平台" in zh.text
    listed = await client.get("/supervision/reports")
    assert 'data-status="submitted"' in listed.text
    bad = await client.post(
        "/supervision/reports/new",
        data={"csrf_token": csrf, "merchant_organisation_id": "999999", "description": "x"},
    )
    assert bad.status_code == 422
    assert await session.scalar(select(func.count()).select_from(Report)) == 1

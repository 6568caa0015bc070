"""A regulator opens a case from a report forwarded to it (HTTP): one case per report (409
`report_in_case` for a second), another authority and reports not forwarded to it answer
404, and the reporter sees the case's status on their report (API and page), never its
internal notes or the case itself."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Membership, User
from linli.audit.models import AuditEntry
from tests.factories import form_login, login, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer
from tests.protection.test_complaints import a_world, region
from tests.supervision.test_reports import REPORTS, send

CASES = "/api/v1/supervision/cases"
SECRET = "内部备注：线人是隔壁店主"


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("linli_csrf") or ""


async def test_a_case_from_a_forwarded_report_and_the_reporter_sees_its_status(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    rid = (await send(client, w))["id"]
    # Not forwarded yet: no case from it.
    early = await client.post(
        CASES, json={"report_id": rid, "title": "举报立案"}, headers=w.regulator_headers
    )
    assert early.status_code == 404
    forwarded = await client.post(f"{REPORTS}/{rid}/forward", headers=w.operator_headers)
    assert forwarded.status_code == 200
    # Another authority: 404, nothing opened.
    far_boss = await make_user(session, name="闵行科长")
    far = await make_org(session, "regulator", name="闵行局", owner=far_boss, **region("310112"))
    far_headers = bearer(await make_token(session, far_boss, organisation=far))
    other = await client.post(CASES, json={"report_id": rid, "title": "x"}, headers=far_headers)
    assert other.status_code == 404

    opened = await client.post(
        CASES, json={"report_id": rid, "title": "举报立案"}, headers=w.regulator_headers
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["report_id"] == rid
    assert case["source"] == "report"
    assert case["organisation_id"] == w.shop.organisation.id
    again = await client.post(
        CASES, json={"report_id": rid, "title": "again"}, headers=w.regulator_headers
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "report_in_case"
    audited = await session.scalar(
        select(AuditEntry.details).where(AuditEntry.action == "supervision.case_opened")
    )
    assert audited is not None
    assert audited["report_id"] == rid

    note = await client.post(
        f"{CASES}/{case['id']}/entries",
        data={"kind": "note", "text": SECRET, "internal": "true"},
        headers=w.regulator_headers,
    )
    assert note.status_code == 201, note.text

    # The reporter: the report is taken up, with the case's status and nothing of the case.
    mine = await client.get(f"{REPORTS}/{rid}", headers=w.buyer.headers)
    assert mine.json()["status"] == "acknowledged"
    assert mine.json()["case_status"] == "investigating"
    assert SECRET not in mine.text
    assert "inspector" not in mine.text
    listed = await client.get(f"{REPORTS}/mine", headers=w.buyer.headers)
    assert listed.json()[0]["case_status"] == "investigating"
    # The merchant reported never sees the report.
    assert (await client.get(f"{REPORTS}/{rid}", headers=w.shop.headers)).status_code in (403, 404)

    decided = await client.post(
        f"{CASES}/{case['id']}/decision",
        json={"decision": "warning", "summary": "警告", "legal_basis": "《食品安全法》"},
        headers=w.regulator_headers,
    )
    assert decided.status_code == 200, decided.text
    mine = await client.get(f"{REPORTS}/{rid}", headers=w.buyer.headers)
    assert mine.json()["case_status"] == "closed"

    await form_login(client, w.buyer.user.phone)
    page = await client.get(f"/supervision/reports/{rid}")
    assert 'data-case-status="closed"' in page.text
    assert SECRET not in page.text
    assert "/regulator/cases/" not in page.text
    zh = await client.get(f"/supervision/reports/{rid}", headers={"Accept-Language": "zh-CN"})
    assert "监管部门的案件" in zh.text


async def test_the_regulator_opens_the_case_from_the_report_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await a_world(client, session)
    rid = (await send(client, w))["id"]
    await client.post(f"{REPORTS}/{rid}/forward", headers=w.operator_headers)
    boss_id = await session.scalar(
        select(Membership.user_id).where(Membership.organisation_id == w.regulator.id)
    )
    boss = await session.get(User, boss_id)
    assert boss is not None
    await login(client, boss, organisation=w.regulator)
    page = await client.get(f"/supervision/reports/{rid}")
    assert f"/supervision/reports/{rid}/case" in page.text
    opened = await client.post(
        f"/supervision/reports/{rid}/case", data={"title": "举报立案", "csrf_token": csrf(client)}
    )
    assert opened.status_code == 303, opened.text
    case_page = await client.get(opened.headers["location"])
    assert case_page.status_code == 200
    assert f"/supervision/reports/{rid}" in case_page.text
    page = await client.get(f"/supervision/reports/{rid}")
    assert f"/supervision/reports/{rid}/case" not in page.text  # one case per report
    assert 'data-case-status="investigating"' in page.text
    second = await client.post(
        f"/supervision/reports/{rid}/case", data={"title": "again", "csrf_token": csrf(client)}
    )
    assert second.status_code in (303, 409)

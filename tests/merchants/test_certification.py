"""The export-to-domestic 'three same' certification and its badge."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from tests.factories import PDF, login, make_merchant, make_org, make_user


async def apply(client: httpx.AsyncClient) -> httpx.Response:
    evidence = await client.post(
        "/api/v1/merchants/files",
        files={"file": ("export.pdf", PDF, "application/pdf")},
        data={"purpose": "evidence"},
    )
    assert evidence.status_code == 201, evidence.text
    return await client.post(
        "/api/v1/merchants/me/certifications",
        json={
            "export_standard": "EN 71-3:2019",
            "destination_markets": ["EU", "UK"],
            "production_line": "宁波二号线",
            "certificates": ["CE-2024-001"],
            "evidence_file_ids": [evidence.json()["id"]],
        },
    )


async def test_the_badge_shows_while_the_certification_is_valid(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    owner = await make_user(session)
    operator = await make_user(session)
    platform = await make_org(session, "platform", owner=operator, role="operator")
    exporter = await make_merchant(
        session, owner, name="宁波外贸玩具厂", kind="supplier", foreign_trade=True, scope=["books"]
    )
    await login(client, owner, organisation=exporter)
    applied = await apply(client)
    assert applied.status_code == 201, applied.text
    assert (await apply(client)).status_code == 409  # one under review at a time
    await client.post("/api/v1/accounts/logout")

    await login(client, operator, organisation=platform)
    certification_id = applied.json()["id"]
    approved = await client.post(
        f"/api/v1/merchants/certifications/{certification_id}/decision", json={"approve": True}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    profile = (await client.get(f"/api/v1/merchants/{exporter.id}/profile")).json()
    assert profile["badges"] == ["verified", "export_quality"]

    frozen_clock.advance(timedelta(days=367))
    expired = (await client.get(f"/api/v1/merchants/{exporter.id}/profile")).json()
    assert expired["badges"] == ["verified"]


async def test_revocation_removes_the_badge(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    operator = await make_user(session)
    platform = await make_org(session, "platform", owner=operator, role="operator")
    exporter = await make_merchant(
        session, owner, kind="supplier", foreign_trade=True, scope=["books"]
    )
    await login(client, owner, organisation=exporter)
    certification_id = (await apply(client)).json()["id"]
    await client.post("/api/v1/accounts/logout")
    await login(client, operator, organisation=platform)
    await client.post(
        f"/api/v1/merchants/certifications/{certification_id}/decision", json={"approve": True}
    )
    revoked = await client.post(
        f"/api/v1/merchants/certifications/{certification_id}/revoke", json={"note": "抽检不合格"}
    )
    assert revoked.json()["status"] == "revoked"
    profile = (await client.get(f"/api/v1/merchants/{exporter.id}/profile")).json()
    assert profile["badges"] == ["verified"]


async def test_only_foreign_trade_owners_apply(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    domestic = await make_merchant(session, owner, scope=["books"])
    await login(client, owner, organisation=domestic)
    response = await apply(client)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_foreign_trade"
    listed = await client.get("/api/v1/merchants/certifications")
    assert listed.json() == []


async def test_merchants_cannot_approve_their_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    exporter = await make_merchant(
        session, owner, kind="supplier", foreign_trade=True, scope=["books"]
    )
    await login(client, owner, organisation=exporter)
    certification_id = (await apply(client)).json()["id"]
    response = await client.post(
        f"/api/v1/merchants/certifications/{certification_id}/decision", json={"approve": True}
    )
    assert response.status_code == 403
    mine = (await client.get("/api/v1/merchants/certifications")).json()
    assert [c["status"] for c in mine] == ["submitted"]

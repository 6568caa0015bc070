"""Applying to sell, the negative list, review, and what approval creates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Membership, Organisation
from linli.audit.models import AuditEntry
from linli.merchants.models import MerchantApplication, MerchantProfile
from linli.notifications.models import Notification
from linli.outbox import DueJob
from tests.factories import PDF, login, make_org, make_user

TODAY = date.today()


async def upload(
    client: httpx.AsyncClient,
    data: bytes = PDF,
    name: str = "licence.pdf",
    purpose: str = "licence",
) -> httpx.Response:
    return await client.post(
        "/api/v1/merchants/files",
        files={"file": (name, data, "application/octet-stream")},
        data={"purpose": purpose},
    )


async def application_body(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    file_id = (await upload(client)).json()["id"]
    body: dict[str, Any] = {
        "company_name": "烟台果园有限公司",
        "credit_code": "91350100M000100Y43",
        "legal_representative": "王果农",
        "address": "山东省烟台市栖霞市果园路1号",
        "province_code": "370000",
        "city_code": "370600",
        "district_code": "370686",
        "business_scope": ["fresh_food"],
        "contact_name": "王果农",
        "contact_phone": "13912340000",
        "licences": [
            {
                "licence_type": "business_licence",
                "number": "B-1",
                "valid_from": str(TODAY - timedelta(days=300)),
                "valid_to": str(TODAY + timedelta(days=700)),
                "file_id": file_id,
            },
            {
                "licence_type": "food_business",
                "number": "JY13706860001",
                "valid_from": str(TODAY - timedelta(days=30)),
                "valid_to": str(TODAY + timedelta(days=1000)),
                "file_id": file_id,
            },
        ],
    }
    body.update(overrides)
    return body


async def count(session: AsyncSession, model: type) -> int:
    await session.rollback()
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_application_with_the_right_licences_is_submitted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    await login(client, applicant)
    response = await client.post(
        "/api/v1/merchants/applications", json=await application_body(client)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "submitted"
    assert body["credit_code"] == "91350100M000100Y43"
    assert body["contact_phone"] == "+8613912340000"
    assert (body["rule_id"], body["rule_version"]) == ("market_access.negative_list", 1)
    assert [lic["licence_type"] for lic in body["licences"]] == [
        "business_licence",
        "food_business",
    ]


async def test_a_bad_credit_code_names_the_position(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    await login(client, applicant)
    response = await client.post(
        "/api/v1/merchants/applications",
        json=await application_body(client, credit_code="91350100M000100Y44"),
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["credit_code"].startswith("Position 18")
    assert await count(session, MerchantApplication) == 0


async def test_prohibited_categories_are_refused_and_the_rule_is_recorded(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    await login(client, applicant)
    response = await client.post(
        "/api/v1/merchants/applications",
        json=await application_body(client, business_scope=["fresh_food", "drugs"]),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "negative_list"
    assert error["fields"]["business_scope"] == "Not allowed on this platform: Drugs."
    in_chinese = await client.post(
        "/api/v1/merchants/applications",
        json=await application_body(client, business_scope=["fresh_food", "drugs"]),
        headers={"Accept-Language": "zh-CN"},
    )
    assert "药品" in in_chinese.json()["error"]["fields"]["business_scope"]
    assert await count(session, MerchantApplication) == 0
    refusal = await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "merchants.application_refused")
    )
    assert refusal is not None
    assert (refusal.details["rule_id"], refusal.details["rule_version"]) == (
        "market_access.negative_list",
        1,
    )


async def test_licence_bound_categories_need_a_valid_licence(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    await login(client, applicant)
    body = await application_body(client)
    without_food = {**body, "licences": body["licences"][:1]}
    response = await client.post("/api/v1/merchants/applications", json=without_food)
    assert response.status_code == 422
    assert response.json()["error"]["fields"]["licences"] == (
        "Selling Fresh food needs a valid food business licence on file."
    )
    expired = dict(body["licences"][1], valid_to=str(TODAY - timedelta(days=1)))
    response = await client.post(
        "/api/v1/merchants/applications", json={**body, "licences": [body["licences"][0], expired]}
    )
    assert response.status_code == 422
    # A parent category covers its licence-bound children: essentials needs the food licence.
    response = await client.post(
        "/api/v1/merchants/applications",
        json={**without_food, "business_scope": ["essentials"]},
    )
    assert response.status_code == 422
    # Medical devices need their own licence; smartphones need none beyond the business licence.
    response = await client.post(
        "/api/v1/merchants/applications",
        json={**without_food, "business_scope": ["smartphones", "wearables"]},
    )
    assert response.status_code == 201, response.text
    assert await count(session, MerchantApplication) == 1


async def test_files_must_be_yours_and_really_documents(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    other = await make_user(session)
    await login(client, other)
    foreign_file = (await upload(client)).json()["id"]
    await client.post("/api/v1/accounts/logout")
    applicant = await make_user(session)
    await login(client, applicant)
    body = await application_body(client)
    for licence in body["licences"]:
        licence["file_id"] = foreign_file
    response = await client.post("/api/v1/merchants/applications", json=body)
    assert response.status_code == 422
    exe = await upload(client, b"MZ\x90\x00" + b"\x00" * 200, name="licence.pdf")
    assert exe.status_code == 422
    assert exe.json()["error"]["code"] == "unsupported_file"
    assert "a program" in exe.json()["error"]["message"]
    big = await upload(client, PDF + b"0" * (6 * 1024 * 1024), name="big.pdf")
    assert big.status_code == 413


async def test_one_pending_application_per_company(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    await login(client, applicant)
    body = await application_body(client)
    assert (await client.post("/api/v1/merchants/applications", json=body)).status_code == 201
    again = await client.post("/api/v1/merchants/applications", json=body)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "credit_code_taken"


async def reviewer(session: AsyncSession) -> tuple[Any, Organisation]:
    operator = await make_user(session, name="审核员")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    return operator, platform


async def test_approval_creates_the_organisation_owner_profile_and_reverification_job(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    applicant_id = applicant.id
    operator, platform = await reviewer(session)
    await login(client, applicant)
    application = (
        await client.post("/api/v1/merchants/applications", json=await application_body(client))
    ).json()
    await client.post("/api/v1/accounts/logout")
    await login(client, operator, organisation=platform)
    queue = (await client.get("/api/v1/merchants/applications?status=submitted")).json()
    assert [a["id"] for a in queue] == [application["id"]]
    decided = await client.post(
        f"/api/v1/merchants/applications/{application['id']}/decision", json={"approve": True}
    )
    assert decided.status_code == 200, decided.text
    organisation_id = decided.json()["organisation_id"]
    await session.rollback()
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    assert (organisation.kind, organisation.name) == ("merchant", "烟台果园有限公司")
    roles = (
        await session.scalars(
            select(Membership.role).where(
                Membership.organisation_id == organisation_id, Membership.user_id == applicant_id
            )
        )
    ).all()
    assert roles == ["owner"]
    profile = await session.get(MerchantProfile, organisation_id)
    assert profile is not None
    assert profile.credit_code == "91350100M000100Y43"
    assert not profile.listings_paused
    job = await session.scalar(select(DueJob).where(DueJob.kind == "merchants.reverify"))
    assert job is not None
    assert job.due_at == profile.next_verification_due
    assert 180 <= (profile.next_verification_due - profile.verified_at).days <= 184
    twice = await client.post(
        f"/api/v1/merchants/applications/{application['id']}/decision", json={"approve": True}
    )
    assert twice.status_code == 409
    await app.state.dispatcher.run_once()
    await session.rollback()
    titles = (
        await session.scalars(select(Notification.kind).where(Notification.user_id == applicant_id))
    ).all()
    assert "merchant_approved" in titles
    public = await client.get(f"/api/v1/merchants/{organisation_id}/profile")
    assert public.json()["badges"] == ["verified"]
    assert "risk" not in public.text


async def test_rejection_needs_a_reason_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    applicant = await make_user(session)
    operator, platform = await reviewer(session)
    await login(client, applicant)
    application = (
        await client.post("/api/v1/merchants/applications", json=await application_body(client))
    ).json()
    await client.post("/api/v1/accounts/logout")
    await login(client, operator, organisation=platform)
    url = f"/api/v1/merchants/applications/{application['id']}/decision"
    no_reason = await client.post(url, json={"approve": False})
    assert no_reason.status_code == 422
    rejected = await client.post(url, json={"approve": False, "reason": "营业执照不清晰"})
    assert rejected.json()["status"] == "rejected"
    assert await count(session, MerchantProfile) == 0
    organisations = await session.scalar(
        select(func.count()).select_from(Organisation).where(Organisation.kind == "merchant")
    )
    assert organisations == 0


async def test_applicants_see_only_their_own_and_cannot_decide(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await make_user(session)
    second = await make_user(session)
    await login(client, first)
    mine = (
        await client.post("/api/v1/merchants/applications", json=await application_body(client))
    ).json()
    await client.post("/api/v1/accounts/logout")
    await login(client, second)
    assert (await client.get(f"/api/v1/merchants/applications/{mine['id']}")).status_code == 404
    assert (await client.get("/api/v1/merchants/applications")).json() == []
    decide = await client.post(
        f"/api/v1/merchants/applications/{mine['id']}/decision", json={"approve": True}
    )
    assert decide.status_code == 403
    await session.rollback()
    row = await session.get(MerchantApplication, mine["id"])
    assert row is not None
    assert row.status == "submitted"

"""Authorisation: acting only for organisations you belong to, and only within your rights."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Membership, Organisation, UserSession
from linli.audit.models import AuditEntry
from tests.factories import grant, login, make_org, make_user


async def test_a_user_cannot_act_for_an_organisation_they_are_not_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    outsider = await make_user(session)
    merchant = await make_org(session, "merchant", owner=owner)
    await login(client, outsider)
    response = await client.put(
        "/api/v1/accounts/me/active-organisation", json={"organisation_id": merchant.id}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_member"
    # The same answer for an organisation that does not exist: nothing to probe.
    missing = await client.put(
        "/api/v1/accounts/me/active-organisation", json={"organisation_id": 999_999}
    )
    assert missing.status_code == 403
    active = await session.scalar(select(UserSession.active_organisation_id))
    assert active is None
    me = await client.get("/api/v1/accounts/me")
    assert me.json()["active_organisation"] is None


async def test_a_member_switches_and_gets_the_roles_of_that_organisation(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    merchant = await make_org(session, "merchant", owner=owner, name="鲜果铺")
    await login(client, owner, organisation=merchant)
    me = (await client.get("/api/v1/accounts/me")).json()
    assert me["active_organisation"] == {
        "id": merchant.id,
        "kind": "merchant",
        "name": "鲜果铺",
        "roles": ["owner"],
    }
    back = await client.put("/api/v1/accounts/me/active-organisation", json={})
    assert back.status_code == 200
    assert back.json()["active_organisation"] is None


async def test_a_member_of_one_organisation_starts_acting_for_it_of_two_for_none(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    merchant = await make_org(session, "merchant", owner=owner, name="鲜果铺")
    await login(client, owner)
    me = (await client.get("/api/v1/accounts/me")).json()
    assert me["active_organisation"]["id"] == merchant.id
    await client.post("/api/v1/accounts/logout")

    await make_org(session, "supplier", owner=owner, name="鲜果供应")
    await login(client, owner)
    assert (await client.get("/api/v1/accounts/me")).json()["active_organisation"] is None


async def test_merchant_a_cannot_see_or_manage_merchant_b(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner_a = await make_user(session)
    owner_b = await make_user(session)
    staff_b = await make_user(session)
    merchant_a = await make_org(session, "merchant", owner=owner_a)
    merchant_b = await make_org(session, "merchant", owner=owner_b)
    await grant(session, merchant_b, staff_b, "staff")
    await login(client, owner_a, organisation=merchant_a)

    assert (await client.get(f"/api/v1/organisations/{merchant_b.id}")).status_code == 404
    assert (await client.get(f"/api/v1/organisations/{merchant_b.id}/members")).status_code == 403
    grab = await client.post(
        f"/api/v1/organisations/{merchant_b.id}/members",
        json={"phone": owner_a.phone, "role": "owner"},
    )
    assert grab.status_code == 403
    fire = await client.delete(
        f"/api/v1/organisations/{merchant_b.id}/members/{staff_b.id}/roles/staff"
    )
    assert fire.status_code == 403
    memberships = (
        await session.execute(
            select(Membership.user_id, Membership.role)
            .where(Membership.organisation_id == merchant_b.id)
            .order_by(Membership.user_id)
        )
    ).all()
    assert memberships == [(owner_b.id, "owner"), (staff_b.id, "staff")]


async def test_an_owner_manages_members_and_it_is_audited(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    newcomer = await make_user(session, name="王五")
    merchant = await make_org(session, "merchant", owner=owner)
    await login(client, owner, organisation=merchant)
    granted = await client.post(
        f"/api/v1/organisations/{merchant.id}/members",
        json={"phone": newcomer.phone, "role": "staff"},
    )
    assert granted.status_code == 201
    assert granted.json()["phone"] == f"{newcomer.phone[3:6]}****{newcomer.phone[-4:]}"
    wrong_role = await client.post(
        f"/api/v1/organisations/{merchant.id}/members",
        json={"phone": newcomer.phone, "role": "inspector"},
    )
    assert wrong_role.status_code == 422
    members = (await client.get(f"/api/v1/organisations/{merchant.id}/members")).json()
    assert {m["display_name"]: m["roles"] for m in members}["王五"] == ["staff"]
    last_owner = await client.delete(
        f"/api/v1/organisations/{merchant.id}/members/{owner.id}/roles/owner"
    )
    assert last_owner.status_code == 409
    entry = await session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == "accounts.role_granted")
        .order_by(AuditEntry.id.desc())
    )
    assert entry is not None
    assert (entry.user_id, entry.organisation_id, entry.target_id) == (
        owner.id,
        merchant.id,
        str(newcomer.id),
    )
    assert entry.details == {"role": "staff"}
    assert entry.ip == "127.0.0.1"


async def test_staff_cannot_manage_members(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    staff = await make_user(session)
    merchant = await make_org(session, "merchant", owner=owner)
    await grant(session, merchant, staff, "staff")
    await login(client, staff, organisation=merchant)
    response = await client.post(
        f"/api/v1/organisations/{merchant.id}/members",
        json={"phone": staff.phone, "role": "owner"},
    )
    assert response.status_code == 403
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.role == "owner")
    )
    assert count == 1


async def test_only_platform_admins_create_organisations(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session)
    owner = await make_user(session)
    platform = await make_org(session, "platform", owner=admin)
    merchant = await make_org(session, "merchant", owner=owner)
    body = {
        "kind": "regulator",
        "name": "浦东市场监管局",
        "province_code": "310000",
        "city_code": "310100",
        "district_code": "310115",
    }
    await login(client, owner, organisation=merchant)
    assert (await client.post("/api/v1/organisations", json=body)).status_code == 403
    await client.post("/api/v1/accounts/logout")
    await login(client, admin, organisation=platform)
    created = await client.post("/api/v1/organisations", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["district_code"] == "310115"
    bad_region = await client.post(
        "/api/v1/organisations", json={**body, "district_code": "320115"}
    )
    assert bad_region.status_code == 422
    assert "district_code" in bad_region.json()["error"]["fields"]
    names = (await session.scalars(select(Organisation.name).order_by(Organisation.id))).all()
    assert names == ["测试platform", "测试merchant", "浦东市场监管局"]


async def test_anonymous_requests_are_401(client: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/api/v1/accounts/me"),
        ("GET", "/api/v1/organisations/1"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/inbox"),
        ("GET", "/api/v1/ops/outbox"),
    ]:
        response = await client.request(method, url)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_region_codes_are_ascii_digits_after_nfkc(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session)
    platform = await make_org(session, "platform", owner=admin)
    await login(client, admin, organisation=platform)
    body = {"kind": "regulator", "name": "浦东市场监管局", "province_code": "310000"}
    arabic = await client.post("/api/v1/organisations", json={**body, "province_code": "٣١٠٠٠٠"})
    assert arabic.status_code == 422
    assert "province_code" in arabic.json()["error"]["fields"]
    full_width = await client.post(
        "/api/v1/organisations",
        json={**body, "province_code": "３１００００", "city_code": "３１０１００"},
    )
    assert full_width.status_code == 201, full_width.text
    assert full_width.json()["province_code"] == "310000"
    stored = await session.scalar(
        select(Organisation.city_code).where(Organisation.id == full_width.json()["id"])
    )
    assert stored == "310100"

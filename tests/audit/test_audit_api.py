from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import login, make_org, make_user


async def test_platform_auditors_see_all_and_owners_only_their_organisation(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session)
    owner_a = await make_user(session)
    owner_b = await make_user(session)
    platform = await make_org(session, "platform", owner=admin)
    merchant_a = await make_org(session, "merchant", owner=owner_a)
    merchant_b = await make_org(session, "merchant", owner=owner_b)

    await login(client, owner_a, organisation=merchant_a)
    own = (await client.get("/api/v1/audit")).json()
    assert own, "the owner's own switch and the role grant are recorded"
    assert {entry["organisation_id"] for entry in own} == {merchant_a.id}
    await client.post("/api/v1/accounts/logout")

    await login(client, admin, organisation=platform)
    everything = (await client.get("/api/v1/audit?limit=200")).json()
    assert {merchant_a.id, merchant_b.id, platform.id} <= {e["organisation_id"] for e in everything}
    logins = (await client.get("/api/v1/audit?action=accounts.login")).json()
    assert {e["user_id"] for e in logins} == {owner_a.id, admin.id}


async def test_residents_and_staff_cannot_read_the_audit_log(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    resident = await make_user(session)
    await login(client, resident)
    response = await client.get("/api/v1/audit")
    assert response.status_code == 403

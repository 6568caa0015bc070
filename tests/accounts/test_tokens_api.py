from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import ApiToken
from tests.factories import login, make_org, make_token, make_user


async def test_a_token_is_shown_once_stored_hashed_and_works_as_bearer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await login(client, user)
    created = await client.post(
        "/api/v1/accounts/tokens", json={"name": "ERP", "scopes": ["account", "org:read"]}
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("linli_")
    stored = await session.scalar(select(ApiToken))
    assert stored is not None
    assert token not in (stored.token_digest, stored.hint)
    assert stored.hint == token[-4:]
    listed = await client.get("/api/v1/accounts/tokens")
    assert "token" not in listed.json()[0]

    async with httpx.AsyncClient(transport=client._transport, base_url="http://t") as program:
        me = await program.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["id"] == user.id

    revoked = await client.delete(f"/api/v1/accounts/tokens/{stored.id}")
    assert revoked.status_code == 200
    async with httpx.AsyncClient(transport=client._transport, base_url="http://t") as program:
        after = await program.get(
            "/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert after.status_code == 401


async def test_malformed_authorization_headers_are_401(client: httpx.AsyncClient) -> None:
    for header in ("Basic abc", "Bearer", "Bearer nope", "token"):
        response = await client.get("/api/v1/accounts/me", headers={"Authorization": header})
        assert response.status_code == 401, header


async def test_scopes_limit_what_a_token_can_do(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session)
    platform = await make_org(session, "platform", owner=admin)
    read_only = await make_token(session, admin, scopes=["org:read"], organisation=platform)
    full = await make_token(session, admin, scopes=["platform"], organisation=platform)
    headers = {"Authorization": f"Bearer {read_only}"}
    assert (await client.get("/api/v1/ops/outbox", headers=headers)).status_code == 403
    refused = await client.post(
        "/api/v1/accounts/tokens", headers=headers, json={"name": "x", "scopes": ["account"]}
    )
    assert refused.status_code == 403
    allowed = await client.get("/api/v1/ops/outbox", headers={"Authorization": f"Bearer {full}"})
    assert allowed.status_code == 200


async def test_no_token_for_an_organisation_you_do_not_belong_to(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    outsider = await make_user(session)
    merchant = await make_org(session, "merchant", owner=owner)
    await login(client, outsider)
    response = await client.post(
        "/api/v1/accounts/tokens",
        json={"name": "x", "scopes": ["org:read"], "organisation_id": merchant.id},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_member"
    assert await session.scalar(select(ApiToken.id)) is None


async def test_unknown_scope_is_named(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await login(client, user)
    response = await client.post(
        "/api/v1/accounts/tokens", json={"name": "x", "scopes": ["root", "account"]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "Unknown scope: root."


async def test_one_user_cannot_revoke_anothers_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    victim = await make_user(session)
    await make_token(session, victim, scopes=["account"])
    token_id = await session.scalar(select(ApiToken.id))
    attacker = await make_user(session)
    await login(client, attacker)
    response = await client.delete(f"/api/v1/accounts/tokens/{token_id}")
    assert response.status_code == 404
    session.expire_all()
    row = await session.get(ApiToken, token_id)
    assert row is not None
    assert row.revoked_at is None

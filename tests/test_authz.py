"""Token scopes guard every route (issue 10, finding 3) and cookie writes pass CSRF wherever
they are mounted (finding 11). Each test names the hole it closes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.accounts.models import ApiToken, User
from linli.authz import (
    MERCHANT_PROFILE_MANAGE,
    ROLE_PERMISSIONS,
    Actor,
    OrganisationRef,
    UserRef,
)
from linli.merchants.policies import acting_enterprise
from linli.web import CSRF_FIELD
from tests.factories import login, make_org, make_token, make_user
from tests.groupbuy.helpers import (
    a_shop,
    bearer,
    item,
    listed_sku,
    new_key,
    published_campaign,
)
from tests.groupbuy.test_fulfilment import a_led_point

CAPTURE_ONLY = ("trace:capture",)


async def capture_token(session: AsyncSession, user: User) -> dict[str, str]:
    return bearer(await make_token(session, user, scopes=CAPTURE_ONLY))


async def test_a_capture_token_cannot_order_or_pay(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku))
    resident = await make_user(session, name="居民")
    headers = await capture_token(session, resident)
    placed = await client.post(
        "/api/v1/groupbuy/orders",
        json={
            "campaign_id": campaign["id"],
            "lines": [{"item_id": campaign["items"][0]["id"], "quantity": 1}],
            "accept_return_terms": True,
        },
        headers=headers | {"Idempotency-Key": new_key()},
    )
    assert placed.status_code == 403
    assert placed.json()["error"]["message"] == "This token lacks the resident scope."
    cart = await client.post(
        "/api/v1/groupbuy/cart/checkout",
        json={"accept_return_terms": True},
        headers=headers | {"Idempotency-Key": new_key()},
    )
    assert cart.status_code == 403
    paid = await client.post(
        "/api/v1/payments/intents",
        json={"amount_fen": 100, "payee_organisation_id": shop.organisation.id},
        headers=headers,
    )
    assert paid.status_code == 403
    # The payment page is a page: no token opens it, even with a CSRF pair of its own making.
    client.cookies.set(CSRF_COOKIE, "x" * 43)
    page = await client.post(f"/pay/{'0' * 32}", data={CSRF_FIELD: "x" * 43}, headers=headers)
    assert page.status_code == 401


async def test_a_leaders_capture_token_cannot_hand_over_goods(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    point = await a_led_point(session)
    headers = await capture_token(session, point.leader.user)
    awaiting = await client.get(
        f"/api/v1/groupbuy/pickup-points/{point.id}/awaiting/ABCDEF12", headers=headers
    )
    assert awaiting.status_code == 403
    handed = await client.post(
        f"/api/v1/groupbuy/pickup-points/{point.id}/pickups",
        json={"code": "123456"},
        headers=headers,
    )
    assert handed.status_code == 403
    assert handed.json()["error"]["message"] == "This token lacks the leader scope."
    # With the leader scope the same request reaches the pickup point (no such code there).
    leader = bearer(await make_token(session, point.leader.user, scopes=("leader",)))
    found = await client.post(
        f"/api/v1/groupbuy/pickup-points/{point.id}/pickups",
        json={"code": "123456"},
        headers=leader,
    )
    assert found.status_code == 404


async def test_a_capture_token_cannot_upload_files_or_file_licences(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    headers = bearer(
        await make_token(session, shop.owner, scopes=CAPTURE_ONLY, organisation=shop.organisation)
    )
    uploaded = await client.post(
        "/api/v1/merchants/files",
        files={"file": ("licence.png", b"\x89PNG\r\n\x1a\n", "image/png")},
        headers=headers,
    )
    assert uploaded.status_code == 403
    licence = {
        "licence_type": "food_business",
        "number": "JY13101150000001",
        "valid_from": "2026-01-01",
        "valid_to": "2030-12-31",
        "file_id": 1,
    }
    filed = await client.post("/api/v1/merchants/me/licences", json=licence, headers=headers)
    assert filed.status_code == 403
    assert filed.json()["error"]["message"] == "This token lacks the org:write scope."


def test_filing_licences_is_a_permission_of_the_owner_not_a_role_string() -> None:
    assert MERCHANT_PROFILE_MANAGE in ROLE_PERMISSIONS["owner"]
    assert MERCHANT_PROFILE_MANAGE not in ROLE_PERMISSIONS["staff"]
    shop = OrganisationRef(id=7, kind="merchant", name="店")
    owner_read_only = Actor(
        organisation=shop, roles=frozenset({"owner"}), scopes=frozenset({"org:read"})
    )
    assert not owner_read_only.has(MERCHANT_PROFILE_MANAGE)
    user = UserRef(id=1, phone="+8613800000000", display_name="店主", locale=None)
    owner = Actor(user=user, organisation=shop, roles=frozenset({"owner"}))
    assert acting_enterprise(owner) == 7


async def test_a_capture_token_cannot_manage_the_account_or_read_the_phone(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, name="本人")
    other = await make_token(session, user, scopes=("account",))
    headers = await capture_token(session, user)
    me = await client.get("/api/v1/accounts/me", headers=headers)
    assert me.status_code == 403
    assert user.phone not in me.text
    assert (await client.get("/account", headers=headers)).status_code == 401
    # Even with a CSRF cookie and field of its own making, a token opens no page.
    client.cookies.set(CSRF_COOKIE, "x" * 43)
    form = {CSRF_FIELD: "x" * 43, "display_name": "改名"}
    async with app.state.sessionmaker() as s:
        other_id = await s.scalar(
            select(ApiToken.id).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
        )
    revoked = await client.post(f"/account/tokens/{other_id}/revoke", data=form, headers=headers)
    assert revoked.status_code == 401
    renamed = await client.post("/account/profile", data=form, headers=headers)
    assert renamed.status_code == 401
    async with app.state.sessionmaker() as s:
        row = await s.scalar(select(ApiToken).where(ApiToken.id == other_id))
        fresh = await s.get(User, user.id)
    assert row is not None
    assert row.revoked_at is None
    assert fresh is not None
    assert fresh.display_name == "本人"
    assert (await client.get("/api/v1/accounts/me", headers=bearer(other))).status_code == 200


async def test_epcis_capture_checks_csrf_for_a_browser_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session, name="店主")
    shop = await make_org(session, "merchant", owner=owner)
    await login(client, owner, organisation=shop)
    forged = await client.post(
        "/epcis/capture", json={}, headers={"X-CSRF-Token": "not-the-cookie"}
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"
    del client.headers["X-CSRF-Token"]
    missing = await client.post("/epcis/capture", json={})
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE, SESSION_COOKIE
from linli.accounts.models import LoginFailure, UserSession
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.ratelimit import RateCounter
from tests.factories import PASSWORD, login, make_token, make_user

LOGIN = "/api/v1/accounts/login"


async def test_login_sets_an_httponly_lax_session_cookie(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, name="韩梅梅")
    response = await client.post(LOGIN, json={"phone": user.phone[3:], "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["display_name"] == "韩梅梅"
    cookie = next(h for h in response.headers.get_list("set-cookie") if SESSION_COOKIE in h)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    me = await client.get("/api/v1/accounts/me")
    assert me.status_code == 200
    assert me.json()["id"] == user.id


async def test_wrong_password_is_401_and_is_remembered(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    response = await client.post(LOGIN, json={"phone": user.phone, "password": "Wrong-pass-1"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_credentials"
    failures = await session.scalar(select(func.count()).select_from(LoginFailure))
    assert failures == 1  # kept although the request failed
    actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions[-1] == "accounts.login_failed"
    sessions = await session.scalar(select(func.count()).select_from(UserSession))
    assert sessions == 0


async def test_unknown_account_answers_like_a_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(LOGIN, json={"phone": "13700000000", "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Wrong phone number or password."


async def test_five_failures_lock_the_account_for_the_rest_of_the_window(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    user = await make_user(session)
    for _ in range(5):
        failed = await client.post(LOGIN, json={"phone": user.phone, "password": "Nope-1234"})
        assert failed.status_code == 401
        frozen_clock.advance(timedelta(minutes=1))
    # Even the right password is refused now, with when to retry.
    blocked = await client.post(LOGIN, json={"phone": user.phone, "password": PASSWORD})
    assert blocked.status_code == 429
    # The first failure was 5 minutes ago; it leaves the 15-minute window in 10 minutes.
    assert blocked.headers["retry-after"] == str(10 * 60 + 1)
    assert "Try again in 11 min" in blocked.json()["error"]["message"]
    frozen_clock.advance(timedelta(minutes=10, seconds=1))
    allowed = await client.post(LOGIN, json={"phone": user.phone, "password": PASSWORD})
    assert allowed.status_code == 200
    # Success clears the account's counter.
    remaining = await session.scalar(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.phone == user.phone)
    )
    assert remaining == 0


async def test_five_failures_from_one_ip_block_other_accounts_too(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    victim = await make_user(session)
    for n in range(5):
        await client.post(LOGIN, json={"phone": f"1370000000{n}", "password": "Guess-1234"})
    blocked = await client.post(LOGIN, json={"phone": victim.phone, "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) == 15 * 60 + 1


async def test_logout_ends_the_session_on_the_server(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await login(client, user)
    stolen = client.cookies.get(SESSION_COOKIE)
    assert (await client.post("/api/v1/accounts/logout")).status_code == 204
    client.cookies.set(SESSION_COOKIE, stolen or "")
    replay = await client.get("/api/v1/accounts/me")
    assert replay.status_code == 401


async def test_forged_session_cookie_is_anonymous(client: httpx.AsyncClient) -> None:
    client.cookies.set(SESSION_COOKIE, "ls_forged.x.y")
    response = await client.get("/api/v1/accounts/me")
    assert response.status_code == 401


async def test_cookie_authenticated_api_writes_need_the_csrf_header(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, name="旧名字")
    await login(client, user)
    del client.headers["X-CSRF-Token"]
    refused = await client.patch("/api/v1/accounts/me", json={"display_name": "新名字"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    client.headers["X-CSRF-Token"] = client.cookies.get(CSRF_COOKIE) or ""
    accepted = await client.patch("/api/v1/accounts/me", json={"display_name": "新名字"})
    assert accepted.status_code == 200
    assert accepted.json()["display_name"] == "新名字"


async def test_password_change_ends_other_sessions(app: object, session: AsyncSession) -> None:
    user = await make_user(session)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as phone,
        httpx.AsyncClient(transport=transport, base_url="http://t") as laptop,
    ):
        await login(phone, user)
        await login(laptop, user)
        changed = await phone.post(
            "/api/v1/accounts/me/password",
            json={"current_password": PASSWORD, "new_password": "Brand-new-2026"},
        )
        assert changed.status_code == 204
        assert (await phone.get("/api/v1/accounts/me")).status_code == 200
        assert (await laptop.get("/api/v1/accounts/me")).status_code == 401


async def test_password_change_revokes_api_tokens_only_when_asked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    kept = await make_token(session, user, scopes=("account",))
    await login(client, user)
    changed = await client.post(
        "/api/v1/accounts/me/password",
        json={"current_password": PASSWORD, "new_password": "Brand-new-2026"},
    )
    assert changed.status_code == 204
    bearer = {"Authorization": f"Bearer {kept}"}
    async with httpx.AsyncClient(transport=client._transport, base_url="http://t") as api:
        assert (await api.get("/api/v1/accounts/me", headers=bearer)).status_code == 200
        revoking = await client.post(
            "/api/v1/accounts/me/password",
            json={
                "current_password": "Brand-new-2026",
                "new_password": "Newer-still-2026",
                "revoke_tokens": True,
            },
        )
        assert revoking.status_code == 204
        assert (await api.get("/api/v1/accounts/me", headers=bearer)).status_code == 401
    assert (await client.get("/api/v1/accounts/me")).status_code == 200
    details = (
        await session.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.action == "accounts.password_changed")
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [d["tokens_revoked"] for d in details] == [0, 1]


async def test_a_concurrent_burst_gets_no_more_guesses_than_the_limit(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    responses = await asyncio.gather(
        *(
            client.post(LOGIN, json={"phone": user.phone, "password": f"Guess-{n:04d}"})
            for n in range(12)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 5 + [429] * 7
    failures = await session.scalar(select(func.count()).select_from(LoginFailure))
    assert failures == 5


async def test_throttled_attempts_are_audited_once_per_window_and_counted(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    user = await make_user(session)
    for _ in range(5):
        await client.post(LOGIN, json={"phone": user.phone, "password": "Nope-1234"})
    for _ in range(4):
        blocked = await client.post(LOGIN, json={"phone": user.phone, "password": "Nope-1234"})
        assert blocked.status_code == 429
    actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions.count("accounts.login_failed") == 5
    assert actions.count("accounts.login_throttled") == 1
    counted = await session.scalar(
        select(func.sum(RateCounter.count)).where(RateCounter.key.like("login.throttled.%"))
    )
    assert counted == 4

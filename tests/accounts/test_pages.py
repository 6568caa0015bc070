"""The HTML side: forms with CSRF, language choice, friendly errors."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE, SESSION_COOKIE
from linli.accounts.models import User
from linli.i18n import translations
from tests.factories import PASSWORD, make_org, make_token, make_user

ZH = translations("zh_Hans")


def csrf_of(client: httpx.AsyncClient) -> str:
    return client.cookies.get(CSRF_COOKIE) or ""


async def test_home_follows_accept_language(client: httpx.AsyncClient) -> None:
    english = await client.get("/", headers={"Accept-Language": "en-US"})
    assert '<html lang="en">' in english.text
    assert "Welcome to Linli" in english.text
    chinese = await client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans">' in chinese.text
    assert ZH.gettext("Welcome to Linli") in chinese.text


async def test_the_language_switch_is_remembered(client: httpx.AsyncClient) -> None:
    await client.get("/signup")
    switched = await client.post(
        "/lang", data={"to": "zh_Hans", "next": "/signup", "csrf_token": csrf_of(client)}
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/signup"
    page = await client.get("/signup", headers={"Accept-Language": "en"})
    assert ZH.gettext("Create account") in page.text
    evil = await client.post(
        "/lang", data={"to": "en", "next": "//evil.example/x", "csrf_token": csrf_of(client)}
    )
    assert evil.headers["location"] == "/"
    forged = await client.post("/lang", data={"to": "en", "next": "/"})
    assert forged.status_code == 403


async def test_signup_form_creates_the_account_and_logs_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.get("/signup")
    response = await client.post(
        "/signup",
        data={
            "phone": "139 1234 5678",
            "display_name": "小明",
            "password": PASSWORD,
            "csrf_token": csrf_of(client),
        },
    )
    assert response.status_code == 303
    assert client.cookies.get(SESSION_COOKIE)
    home = await client.get("/")
    assert "小明" in home.text
    assert "Welcome, 小明!" in home.text


async def test_signup_form_errors_are_shown_next_to_the_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.get("/signup")
    response = await client.post(
        "/signup",
        data={
            "phone": "139 1234 5678",
            "display_name": "小明",
            "password": "weak",
            "csrf_token": csrf_of(client),
        },
    )
    assert response.status_code == 422
    assert "Use at least 8 characters" in response.text
    assert 'value="139 1234 5678"' in response.text  # what was typed is kept
    assert "weak" not in re.findall(r'value="([^"]*)"', response.text)
    assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_forms_without_the_csrf_token_are_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.get("/signup")
    response = await client.post(
        "/signup", data={"phone": "13912345678", "display_name": "x", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    forged = await client.post(
        "/signup",
        data={
            "phone": "13912345678",
            "display_name": "x",
            "password": PASSWORD,
            "csrf_token": "x" * 43,
        },
    )
    assert forged.status_code == 403
    assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_login_form_and_role_home(client: httpx.AsyncClient, session: AsyncSession) -> None:
    admin = await make_user(session, name="管理员")
    platform = await make_org(session, "platform", owner=admin, name="邻里平台")
    await client.get("/login")
    wrong = await client.post(
        "/login",
        data={"phone": admin.phone, "password": "nope-nope-1", "csrf_token": csrf_of(client)},
    )
    assert wrong.status_code == 401
    assert "Wrong phone number or password." in wrong.text
    ok = await client.post(
        "/login",
        data={
            "phone": admin.phone,
            "password": PASSWORD,
            "csrf_token": csrf_of(client),
            "next": "/account",
        },
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/account"
    switched = await client.post(
        "/account/switch", data={"organisation_id": str(platform.id), "csrf_token": csrf_of(client)}
    )
    assert switched.status_code == 303
    home = await client.get("/")
    assert 'data-role="platform"' in home.text
    assert 'href="/ops/outbox"' in home.text
    outbox = await client.get("/ops/outbox")
    assert outbox.status_code == 200


async def test_pages_need_login_and_say_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/account")
    assert response.status_code == 401
    assert "/login?next=" in response.text


async def test_residents_get_a_friendly_403_on_operator_pages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    resident = await make_user(session)
    await client.get("/login")
    await client.post(
        "/login",
        data={"phone": resident.phone, "password": PASSWORD, "csrf_token": csrf_of(client)},
    )
    response = await client.get("/ops/outbox")
    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert "Traceback" not in response.text


async def test_unknown_pages_are_a_friendly_404(client: httpx.AsyncClient) -> None:
    page = await client.get("/no/such/page")
    assert page.status_code == 404
    assert "Page not found" in page.text
    api = await client.get("/api/v1/no/such/thing")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    wrong_method = await client.delete("/api/v1/accounts/me")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_the_password_form_says_tokens_survive_and_offers_to_revoke_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    token = await make_token(session, user, scopes=("account",))
    await client.get("/login")
    await client.post(
        "/login",
        data={"phone": user.phone, "password": PASSWORD, "csrf_token": csrf_of(client)},
    )
    page = await client.get("/account")
    assert "API tokens keep working unless you revoke them too." in page.text
    assert 'name="revoke_tokens"' in page.text
    changed = await client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "Brand-new-2026",
            "revoke_tokens": "true",
            "csrf_token": csrf_of(client),
        },
        follow_redirects=True,
    )
    assert changed.status_code == 200
    assert "Your password has been changed. API tokens revoked: 1." in changed.text
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=client._transport, base_url="http://t") as api:
        assert (await api.get("/api/v1/accounts/me", headers=bearer)).status_code == 401


async def test_the_signup_form_is_throttled_with_a_clear_message(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await client.get("/signup")
    form = {
        "phone": user.phone,
        "display_name": "x",
        "password": PASSWORD,
        "csrf_token": csrf_of(client),
    }
    for _ in range(3):
        assert (await client.post("/signup", data=form)).status_code == 409
    refused = await client.post("/signup", data=form)
    assert refused.status_code == 429
    assert "Too many sign-ups from here." in refused.text

"""Factories: build users, organisations, roles, sessions and tokens through the services."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts import service
from linli.accounts.identity import CSRF_COOKIE
from linli.accounts.models import Organisation, User
from linli.authz import Actor
from linli.categories.models import Category

PASSWORD = "Neighbour-2026"
SYSTEM = Actor.for_system()
_phones = itertools.count(10_000_001)


def new_phone() -> str:
    return f"139{next(_phones):08d}"


async def make_user(
    session: AsyncSession,
    *,
    phone: str | None = None,
    name: str = "张三",
    password: str = PASSWORD,
) -> User:
    user = await service.signup(
        session, SYSTEM, phone=phone or new_phone(), password=password, display_name=name
    )
    await session.commit()
    return user


async def make_org(
    session: AsyncSession,
    kind: str = "merchant",
    *,
    name: str | None = None,
    owner: User | None = None,
    role: str | None = None,
    **fields: object,
) -> Organisation:
    if kind == "regulator":
        fields.setdefault("province_code", "310000")
    organisation = await service.create_organisation(
        session,
        SYSTEM,
        kind=kind,
        name=name or f"测试{kind}",
        **fields,  # type: ignore[arg-type]
    )
    if owner is not None:
        default_role = {
            "merchant": "owner",
            "supplier": "owner",
            "regulator": "supervisor",
            "platform": "admin",
        }[kind]
        await service.grant_role(
            session,
            SYSTEM,
            organisation_id=organisation.id,
            phone=owner.phone,
            role=role or default_role,
        )
    await session.commit()
    return organisation


async def grant(session: AsyncSession, organisation: Organisation, user: User, role: str) -> None:
    await service.grant_role(
        session, SYSTEM, organisation_id=organisation.id, phone=user.phone, role=role
    )
    await session.commit()


async def make_token(
    session: AsyncSession,
    user: User,
    *,
    scopes: Sequence[str] = ("account", "resident", "leader", "org:read", "org:write", "platform"),
    organisation: Organisation | None = None,
) -> str:
    token, _row = await service.create_token(
        session,
        SYSTEM,
        name="test",
        scopes=scopes,
        organisation_id=organisation.id if organisation else None,
        for_user=user,
    )
    await session.commit()
    return token


async def login(
    client: httpx.AsyncClient,
    user: User,
    *,
    password: str = PASSWORD,
    organisation: Organisation | None = None,
    as_resident: bool = False,
) -> httpx.Response:
    """Log `client` in through the API and make it send the CSRF header from then on; then
    act for `organisation`, or as a resident (a member of one organisation starts acting
    for it)."""
    await client.get("/healthz")
    response = await client.post(
        "/api/v1/accounts/login", json={"phone": user.phone, "password": password}
    )
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = client.cookies.get(CSRF_COOKIE) or ""
    if organisation is not None:
        switched = await client.put(
            "/api/v1/accounts/me/active-organisation",
            json={"organisation_id": organisation.id},
        )
        assert switched.status_code == 200, switched.text
    if as_resident:
        switched = await client.put(
            "/api/v1/accounts/me/active-organisation", json={"organisation_id": None}
        )
        assert switched.status_code == 200, switched.text
    return response


# --- files and merchants ------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def png_bytes(
    width: int = 8, height: int = 8, colour: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


async def make_merchant(
    session: AsyncSession,
    owner: User,
    *,
    name: str = "测试商家",
    kind: str = "merchant",
    foreign_trade: bool = False,
    scope: Sequence[str] = ("essentials",),
    credit_code: str | None = None,
    paused: bool = False,
) -> Organisation:
    """A verified merchant organisation (the onboarding flow's result, made directly)."""
    from datetime import timedelta

    from linli import clock
    from linli.merchants.models import MerchantApplication, MerchantProfile

    organisation = await make_org(
        session, kind, name=name, owner=owner, foreign_trade=foreign_trade
    )
    code = credit_code or _fake_credit_code(organisation.id)
    application = MerchantApplication(
        applicant_user_id=owner.id,
        kind=kind,
        foreign_trade=foreign_trade,
        company_name=name,
        credit_code=code,
        legal_representative="法人",
        address="上海市浦东新区",
        province_code="310000",
        city_code="310100",
        district_code="310115",
        business_scope=list(scope),
        contact_name="联系人",
        contact_phone="+8613900000000",
        status="approved",
        rule_id="market_access.negative_list",
        rule_version=1,
        organisation_id=organisation.id,
        created_at=clock.now(),
    )
    session.add(application)
    await session.flush()
    session.add(
        MerchantProfile(
            organisation_id=organisation.id,
            application_id=application.id,
            credit_code=code,
            legal_representative="法人",
            address="上海市浦东新区",
            business_scope=list(scope),
            verified_at=clock.now(),
            next_verification_due=clock.now() + timedelta(days=180),
            listings_paused=paused,
            paused_reason="test" if paused else None,
        )
    )
    await session.commit()
    return organisation


def _fake_credit_code(seed: int) -> str:
    """A valid code that differs per seed (organisation code check recomputed too)."""
    from linli.merchants.credit_code import complete

    return complete(f"91310115{seed:08d}")


async def form_login(client: httpx.AsyncClient, phone: str, password: str = PASSWORD) -> str:
    """Log in through the HTML form; returns the CSRF token to post with later forms."""
    await client.get("/login")
    csrf = client.cookies.get(CSRF_COOKIE) or ""
    response = await client.post(
        "/login", data={"phone": phone, "password": password, "csrf_token": csrf}
    )
    assert response.status_code == 303, response.text
    return csrf


async def category_id(session: AsyncSession, code: str) -> int:
    """The id of the category `code` of the tree installed at start."""
    found = await session.scalar(select(Category.id).where(Category.code == code))
    assert found is not None, code
    return found

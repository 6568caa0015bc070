"""Factories: build users, organisations, roles, sessions and tokens through the services."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts import service
from linli.accounts.identity import CSRF_COOKIE
from linli.accounts.models import Organisation, User
from linli.authz import Actor

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
    scopes: Sequence[str] = ("account", "org:read", "org:write", "platform"),
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
) -> httpx.Response:
    """Log `client` in through the API and make it send the CSRF header from then on."""
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
    return response

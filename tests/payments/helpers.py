"""Arranging payments tests: payers and merchants, intents through the service, signed
sandbox notifications, and ledger checks in fresh sessions (a SQLite snapshot left open would
hide what requests wrote)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Executable, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.config import Settings
from linli.payments import ledger, providers, service
from linli.payments.models import PaymentCallback, PaymentIntent
from tests.factories import make_org, make_token, make_user

CALLBACK = providers.CALLBACK_PATH
INTENTS = "/api/v1/payments/intents"


def resident_actor(user: User) -> Actor:
    return Actor(user=UserRef.of(user))


def member_actor(user: User, organisation: Organisation, role: str) -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation),
        roles=frozenset({role}),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def a_merchant(session: AsyncSession, name: str = "鲜果铺") -> tuple[User, Organisation]:
    owner = await make_user(session, name="店主")
    shop = await make_org(session, "merchant", name=name, owner=owner)
    return owner, shop


async def a_resident(session: AsyncSession, name: str = "李四") -> tuple[User, dict[str, str]]:
    user = await make_user(session, name=name)
    return user, bearer(await make_token(session, user))


async def new_intent(
    app: FastAPI,
    payer: User,
    payee: Organisation,
    amount_fen: int = 1234,
    *,
    purpose: str = "order",
    reference: str | None = None,
    key: str | None = None,
) -> PaymentIntent:
    async with app.state.sessionmaker() as s, s.begin():
        return await service.create_intent(
            s,
            resident_actor(payer),
            payee_organisation_id=payee.id,
            purpose=purpose,
            reference=reference or uuid.uuid4().hex[:12],
            amount_fen=amount_fen,
            idempotency_key=key or uuid.uuid4().hex,
        )


def secret(settings: Settings) -> str:
    return settings.payment_sandbox_secret.get_secret_value()


def notification(
    settings: Settings,
    intent: PaymentIntent,
    *,
    amount_fen: int | None = None,
    txn: str | None = None,
    notification_id: str | None = None,
    key: str | None = None,
    public_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    return providers.signed_notification(
        key or secret(settings),
        intent_public_id=public_id or intent.public_id,
        amount_fen=intent.amount_fen if amount_fen is None else amount_fen,
        provider_txn_id=txn or f"sbx{uuid.uuid4().hex}",
        notification_id=notification_id,
    )


async def post_callback(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes
) -> httpx.Response:
    return await client.post(CALLBACK, content=body, headers=headers)


async def pay(
    client: httpx.AsyncClient, settings: Settings, intent: PaymentIntent
) -> httpx.Response:
    headers, body = notification(settings, intent)
    response = await post_callback(client, headers, body)
    assert response.status_code == 200, response.text
    assert response.json() == providers.ACKNOWLEDGEMENT
    return response


async def fetch(app: FastAPI, statement: Executable) -> list[Any]:
    async with app.state.sessionmaker() as s:
        return list(await s.scalars(statement))


async def intent_row(app: FastAPI, intent_id: int) -> PaymentIntent:
    (row,) = await fetch(app, select(PaymentIntent).where(PaymentIntent.id == intent_id))
    assert isinstance(row, PaymentIntent)
    return row


async def outcomes(app: FastAPI) -> list[str]:
    return await fetch(app, select(PaymentCallback.outcome).order_by(PaymentCallback.id))


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def balances(app: FastAPI) -> dict[str, int]:
    """Every account's balance, after checking that the books balance."""
    async with app.state.sessionmaker() as s:
        result = await ledger.trial_balance(s)
    assert result.total == 0
    return result.accounts


async def balance(app: FastAPI, code: str) -> int:
    async with app.state.sessionmaker() as s:
        return await ledger.balance(s, code)


@pytest.fixture
def sandbox_in_process(app: FastAPI) -> Iterator[None]:
    """The sandbox provider's HTTP notifications reach this app in-process."""
    previous = providers.transport
    providers.transport = httpx.ASGITransport(app=app)
    try:
        yield
    finally:
        providers.transport = previous

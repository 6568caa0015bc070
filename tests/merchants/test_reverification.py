"""Qualifications are re-verified on schedule; overdue merchants' listings pause."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.merchants import reverification
from linli.merchants.models import Licence, MerchantProfile
from linli.outbox import DueJob
from tests.factories import PDF, SYSTEM, login, make_merchant, make_org, make_user


async def file_licence(
    session: AsyncSession, organisation_id: int, kind: str, valid_to: date
) -> None:
    from linli.files.models import StoredFile

    stored = StoredFile(
        sha256="0" * 64,
        content_type="application/pdf",
        size=len(PDF),
        original_name="l.pdf",
        purpose="licence",
        public=False,
        owner_organisation_id=organisation_id,
        created_at=clock.now(),
    )
    session.add(stored)
    await session.flush()
    session.add(
        Licence(
            organisation_id=organisation_id,
            licence_type=kind,
            number="N",
            valid_from=valid_to - timedelta(days=700),
            valid_to=valid_to,
            file_id=stored.id,
            created_at=clock.now(),
        )
    )
    await session.commit()


async def schedule_for(session: AsyncSession, organisation_id: int) -> None:
    profile = await session.get(MerchantProfile, organisation_id)
    assert profile is not None
    await reverification.schedule_reverification(
        session, organisation_id, profile.next_verification_due
    )
    await session.commit()


async def test_overdue_merchants_are_paused_by_the_durable_job(
    app: FastAPI, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    owner = await make_user(session)
    merchant = await make_merchant(session, owner, scope=["smartphones"])
    merchant_id = merchant.id
    await schedule_for(session, merchant_id)
    frozen_clock.advance(timedelta(days=179))
    await app.state.dispatcher.run_once()
    await session.rollback()
    profile = await session.get(MerchantProfile, merchant_id)
    assert profile is not None
    assert profile.listings_paused is False  # not due yet
    frozen_clock.advance(timedelta(days=2))
    await app.state.dispatcher.run_once()
    await session.rollback()
    session.expire_all()
    profile = await session.get(MerchantProfile, merchant_id)
    assert profile is not None
    assert profile.listings_paused is True
    assert profile.paused_reason == "reverification_overdue"
    entry = await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "merchants.listings_paused")
    )
    assert entry is not None
    assert entry.details["rule_id"] == "merchant.reverification"


async def test_reverification_needs_valid_licences_and_unpauses(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    owner = await make_user(session)
    operator = await make_user(session)
    platform = await make_org(session, "platform", owner=operator, role="operator")
    merchant = await make_merchant(session, owner, scope=["fresh_food"])
    merchant_id = merchant.id
    today = frozen_clock.now().date()
    await file_licence(session, merchant_id, "business_licence", today + timedelta(days=400))
    await file_licence(session, merchant_id, "food_business", today - timedelta(days=1))
    profile = await session.get(MerchantProfile, merchant_id)
    assert profile is not None
    profile.listings_paused = True
    profile.paused_reason = "reverification_overdue"
    await session.commit()

    await login(client, operator, organisation=platform)
    refused = await client.post(f"/api/v1/merchants/{merchant_id}/reverify", json={})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "licence_missing"
    assert "food business licence" in refused.json()["error"]["message"]

    await file_licence(session, merchant_id, "food_business", today + timedelta(days=300))
    accepted = await client.post(
        f"/api/v1/merchants/{merchant_id}/reverify", json={"note": "证照齐全"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["listings_paused"] is False
    await session.rollback()
    session.expire_all()
    profile = await session.get(MerchantProfile, merchant_id)
    assert profile is not None
    assert profile.next_verification_due.date() == date(2027, 5, 26)
    jobs = (
        await session.scalars(
            select(DueJob).where(DueJob.kind == "merchants.reverify", DueJob.status == "pending")
        )
    ).all()
    assert [j.due_at for j in jobs] == [profile.next_verification_due]


async def test_merchants_cannot_reverify_themselves(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    merchant = await make_merchant(session, owner, scope=["smartphones"])
    await login(client, owner, organisation=merchant)
    response = await client.post(f"/api/v1/merchants/{merchant.id}/reverify", json={})
    assert response.status_code == 403


async def test_expiring_licences_are_reported_with_days_left(
    session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    owner = await make_user(session)
    merchant = await make_merchant(session, owner, scope=["smartphones"])
    today = frozen_clock.now().date()
    await file_licence(session, merchant.id, "business_licence", today + timedelta(days=10))
    await file_licence(session, merchant.id, "food_business", today + timedelta(days=90))
    expiring = await reverification.expiring_licences(session, merchant.id)
    assert [(lic.licence_type, days) for lic, days in expiring] == [("business_licence", 10)]
    assert SYSTEM.system

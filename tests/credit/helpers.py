"""Arranging credit tests: events published as their domains publish them, then delivered."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.credit.models import CreditRecord, CreditScore
from linli.events import ComplaintResolved, DomainEvent, InspectionFailed, OrderUncollected

CREDIT = "/api/v1/credit"


async def publish(app: FastAPI, *events: DomainEvent) -> None:
    """Publish `events` in one transaction, then deliver everything pending."""
    async with app.state.sessionmaker() as s:
        for e in events:
            outbox.publish(s, e)
        await s.commit()
    await app.state.dispatcher.run_once(jobs=False)


def inspection_failed(organisation_id: int, n: int = 1) -> InspectionFailed:
    return InspectionFailed(
        inspection_id=n,
        batch_id=n,
        batch_code=f"B{n}",
        organisation_id=organisation_id,
        laboratory="上海市食品药品检验所",
    )


def uncollected(user_id: int, order_id: int = 1) -> OrderUncollected:
    return OrderUncollected(
        order_id=order_id,
        user_id=user_id,
        pickup_point_id=1,
        merchant_organisation_id=1,
        action="refund",
        refunded_fen=1500,
    )


def resolved(
    organisation_id: int, outcome: str, *, leader_user_id: int | None = None, n: int = 1
) -> ComplaintResolved:
    return ComplaintResolved(
        complaint_id=n,
        complainant_user_id=1,
        target="leader" if leader_user_id else "merchant",
        order_id=1,
        subject_organisation_id=organisation_id,
        subject_leader_user_id=leader_user_id,
        decider="platform",
        regulator_organisation_id=None,
        status="closed",
        outcome=outcome,
    )


async def records(app: FastAPI, subject_kind: str, subject_id: int) -> Sequence[CreditRecord]:
    s: AsyncSession
    async with app.state.sessionmaker() as s:
        return (
            await s.scalars(
                select(CreditRecord)
                .where(
                    CreditRecord.subject_kind == subject_kind,
                    CreditRecord.subject_id == subject_id,
                )
                .order_by(CreditRecord.id)
            )
        ).all()


async def stored(app: FastAPI, subject_kind: str, subject_id: int) -> CreditScore | None:
    s: AsyncSession
    async with app.state.sessionmaker() as s:
        return await s.scalar(
            select(CreditScore).where(
                CreditScore.subject_kind == subject_kind, CreditScore.subject_id == subject_id
            )
        )

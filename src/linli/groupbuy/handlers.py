"""Group buying's subscribers and due jobs: paying orders, expiring unpaid ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import PaymentSucceeded
from linli.groupbuy import service
from linli.outbox import Envelope


@outbox.subscribe(PaymentSucceeded, "groupbuy.mark_paid")
async def mark_paid(session: AsyncSession, envelope: Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, PaymentSucceeded)
    if event.purpose != service.PURPOSE:
        return
    await service.mark_paid(session, event)


@outbox.job(service.EXPIRE_JOB)
async def expire_order(session: AsyncSession, payload: dict[str, Any]) -> None:
    await service.expire_order(session, int(payload["order_id"]), int(payload["intent_id"]))

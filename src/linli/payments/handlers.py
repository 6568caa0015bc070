"""Due jobs of the payments domain: closing unpaid intents at their expiry time, and (in
providers.py) the sandbox provider's notification deliveries."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.payments import providers, service

__all__ = ["expire_intent", "providers"]


@outbox.job(service.EXPIRE_JOB)
async def expire_intent(session: AsyncSession, payload: dict[str, Any]) -> None:
    await service.expire_intent(session, int(payload["intent_id"]))

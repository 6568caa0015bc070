"""Durable jobs of the merchants domain."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.merchants import service


@outbox.job(service.REVERIFY_JOB)
async def reverification_due(session: AsyncSession, payload: dict[str, Any]) -> None:
    await service.pause_if_overdue(session, int(payload["organisation_id"]))

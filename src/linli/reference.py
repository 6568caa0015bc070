"""Reference data every installation needs (rules, categories), installed idempotently."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli.catalog.categories import ensure_categories
from linli.rules.service import ensure_defaults


async def ensure_reference_data(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session, session.begin():
        await ensure_defaults(session)
        await ensure_categories(session)

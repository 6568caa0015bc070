"""What every installation needs at start: reference data (rules, categories) and the
recurring jobs that reschedule themselves. Both are idempotent and safe to run concurrently."""

from __future__ import annotations

import contextlib

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli.accounts.handlers import ensure_prune_scheduled
from linli.categories.tree import ensure_categories
from linli.credit.handlers import ensure_refresh_scheduled as ensure_credit_refresh_scheduled
from linli.groupbuy.handlers import ensure_statements_scheduled
from linli.live.retention import ensure_purge_scheduled as ensure_live_purge_scheduled
from linli.payments.handlers import ensure_prune_scheduled as ensure_callback_prune_scheduled
from linli.rules.service import ensure_defaults
from linli.services.handlers import ensure_purge_scheduled as ensure_medical_purge_scheduled
from linli.supervision.rule_handlers import ensure_sweep_scheduled
from linli.supervision.rule_service import ensure_defaults as ensure_supervision_rules


async def ensure_reference_data(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    # Another process starting at the same moment may insert the same rows first.
    with contextlib.suppress(IntegrityError):
        async with sessionmaker() as session, session.begin():
            await ensure_defaults(session)
            await ensure_categories(session)
            await ensure_supervision_rules(session)
    with contextlib.suppress(IntegrityError):
        async with sessionmaker() as session, session.begin():
            await ensure_prune_scheduled(session)
            await ensure_statements_scheduled(session)
            await ensure_callback_prune_scheduled(session)
            await ensure_credit_refresh_scheduled(session)
            await ensure_sweep_scheduled(session)
            await ensure_medical_purge_scheduled(session)
            await ensure_live_purge_scheduled(session)

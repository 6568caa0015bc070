"""Due jobs of the accounts domain: pruning expired sessions, old login failures and rate
counters."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox, ratelimit
from linli.accounts.models import LoginFailure, UserSession
from linli.jobs import PruneSessions

PRUNE_JOB = PruneSessions.job_kind
PRUNE_EVERY = timedelta(hours=6)
EXPIRED_SESSION_RETENTION = timedelta(days=7)
LOGIN_FAILURE_RETENTION = timedelta(days=30)


@outbox.job(PruneSessions)
async def prune(session: AsyncSession, job: PruneSessions) -> None:
    """Delete long-expired sessions, old login failures and rate counters; come back later."""
    now = clock.now()
    await session.execute(
        delete(UserSession).where(UserSession.expires_at < now - EXPIRED_SESSION_RETENTION)
    )
    await session.execute(
        delete(LoginFailure).where(LoginFailure.at < now - LOGIN_FAILURE_RETENTION)
    )
    await ratelimit.prune(session)
    await _schedule_next(session)


async def ensure_prune_scheduled(session: AsyncSession) -> None:
    await _schedule_next(session)


async def _schedule_next(session: AsyncSession) -> None:
    await outbox.schedule(session, PruneSessions(), clock.now() + PRUNE_EVERY, dedupe_key=PRUNE_JOB)

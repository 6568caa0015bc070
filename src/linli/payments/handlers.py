"""Due jobs of the payments domain: closing unpaid intents at their expiry time, pruning
unsigned junk from the callback log, and (in providers.py) the sandbox provider's
notification deliveries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.jobs import ExpireIntent, PruneCallbacks
from linli.payments import providers, service
from linli.payments.models import PaymentCallback

__all__ = ["expire_intent", "providers"]

PRUNE_JOB = PruneCallbacks.job_kind
PRUNE_EVERY = timedelta(hours=6)
# Anyone can post to the callback URL; what was not signed by the provider (or could not be
# read) is kept this long for investigation. Signed notifications are kept: replays are
# recognised by them.
JUNK_RETENTION = timedelta(days=30)


@outbox.job(ExpireIntent)
async def expire_intent(session: AsyncSession, job: ExpireIntent) -> None:
    await service.expire_intent(session, job.intent_id)


@outbox.job(PruneCallbacks)
async def prune_callbacks(session: AsyncSession, job: PruneCallbacks) -> None:
    await session.execute(
        delete(PaymentCallback).where(
            PaymentCallback.received_at < clock.now() - JUNK_RETENTION,
            or_(
                PaymentCallback.signature_valid.is_(False),
                PaymentCallback.outcome == service.MALFORMED,
            ),
        )
    )
    await ensure_prune_scheduled(session)


async def ensure_prune_scheduled(session: AsyncSession) -> None:
    await outbox.schedule(
        session, PruneCallbacks(), clock.now() + PRUNE_EVERY, dedupe_key=PRUNE_JOB
    )

"""Operator views of event delivery: what is pending, what is dead, requeueing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import OPS_OUTBOX_READ, OPS_OUTBOX_RETRY, Actor, ensure
from linli.errors import Conflict, NotFound
from linli.i18n import N_
from linli.outbox import DEAD, PENDING, DueJob, OutboxEvent


async def outbox_counts(session: AsyncSession, actor: Actor) -> dict[str, int]:
    ensure(actor, OPS_OUTBOX_READ)
    rows = await session.execute(
        select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)
    )
    counts = {"pending": 0, "delivered": 0, "dead": 0}
    counts.update({status: int(n) for status, n in rows})
    return counts


async def list_events(
    session: AsyncSession, actor: Actor, *, status: str | None, limit: int = 50
) -> Sequence[OutboxEvent]:
    ensure(actor, OPS_OUTBOX_READ)
    query = select(OutboxEvent).order_by(OutboxEvent.seq.desc()).limit(limit)
    if status:
        query = query.where(OutboxEvent.status == status)
    return (await session.scalars(query)).all()


async def list_jobs(
    session: AsyncSession, actor: Actor, *, status: str | None, limit: int = 50
) -> Sequence[DueJob]:
    ensure(actor, OPS_OUTBOX_READ)
    query = select(DueJob).order_by(DueJob.due_at.desc(), DueJob.id.desc()).limit(limit)
    if status:
        query = query.where(DueJob.status == status)
    return (await session.scalars(query)).all()


async def requeue_event(session: AsyncSession, actor: Actor, seq: int) -> OutboxEvent:
    """Give a dead event a fresh set of attempts (handlers already applied are skipped)."""
    ensure(actor, OPS_OUTBOX_RETRY)
    row = await session.get(OutboxEvent, seq)
    if row is None:
        raise NotFound(N_("No such event."))
    if row.status != DEAD:
        raise Conflict(N_("Only dead events can be requeued."))
    row.status = PENDING
    row.attempts = 0
    row.available_at = clock.now()
    row.locked_by = None
    row.locked_until = None
    audit.record(
        session,
        actor,
        "ops.event_requeued",
        target_type="outbox_event",
        target_id=row.event_id,
        event_type=row.event_type,
    )
    return row


async def requeue_job(session: AsyncSession, actor: Actor, job_id: int) -> DueJob:
    ensure(actor, OPS_OUTBOX_RETRY)
    row = await session.get(DueJob, job_id)
    if row is None:
        raise NotFound(N_("No such job."))
    if row.status != DEAD:
        raise Conflict(N_("Only dead jobs can be requeued."))
    if row.dedupe_key is not None:
        pending = await session.scalar(
            select(DueJob.id).where(DueJob.dedupe_key == row.dedupe_key, DueJob.status == PENDING)
        )
        if pending is not None:
            raise Conflict(
                N_("Job #{job_id} with the same key is already pending."), job_id=pending
            )
    row.status = PENDING
    row.attempts = 0
    row.due_at = clock.now()
    row.locked_by = None
    row.locked_until = None
    audit.record(
        session, actor, "ops.job_requeued", target_type="due_job", target_id=row.id, kind=row.kind
    )
    return row


# Statuses are shown translated on the operator pages.
STATUS_LABELS = (N_("pending"), N_("delivered"), N_("dead"), N_("done"), N_("all"))

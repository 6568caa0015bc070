"""Batches (lots) of a SKU, scoped to the actor's organisation (another organisation's batch is
404), and the events we record on them ourselves: commissioning when a batch is created,
`record_event(session, actor, batch, event)` for other domains."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import TRACE_MANAGE, TRACE_READ, Actor, acting_organisation, ensure
from linli.catalog import offers
from linli.errors import Conflict, NotFound
from linli.i18n import N_
from linli.trace.chains import record_generated_event
from linli.trace.identifiers import batch_class
from linli.trace.models import TraceBatch, TraceEvent
from linli.trace.policies import own_rows
from linli.trace.schemas import BatchIn


async def create_batch(session: AsyncSession, actor: Actor, data: BatchIn) -> TraceBatch:
    organisation_id = acting_organisation(actor, TRACE_MANAGE)
    found = await offers.sku_facts(session, data.sku_id, organisation_id=organisation_id)
    if found is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    taken = await session.scalar(
        select(TraceBatch.id).where(TraceBatch.sku_id == data.sku_id, TraceBatch.lot == data.lot)
    )
    if taken is not None:
        raise Conflict(
            N_("This SKU already has a batch with lot {lot}."), code="lot_taken", lot=data.lot
        )
    batch = TraceBatch(
        code=_new_code(),
        organisation_id=organisation_id,
        sku_id=data.sku_id,
        gtin=found.gtin.zfill(14) if found.gtin else None,
        lot=data.lot,
        production_date=data.production_date,
        expiry_date=data.expiry_date,
        origin=data.origin,
        producer=data.producer,
        created_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    session.add(batch)
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.batch.create",
        target_type="trace_batch",
        target_id=batch.id,
        sku_id=batch.sku_id,
        lot=batch.lot,
        code=batch.code,
    )
    await record_event(session, actor, batch, commissioning_event(batch))
    return batch


def _new_code() -> str:
    # 16 hex characters (64 random bits): unguessable, printable on a label.
    return secrets.token_hex(8).upper()


def commissioning_event(batch: TraceBatch) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "ADD",
        "epcList": [],
        "quantityList": [{"epcClass": batch_class(batch)}],
        "bizStep": "commissioning",
        "disposition": "active",
        "ilmd": {
            "cbvmda:lotNumber": batch.lot,
            "cbvmda:itemExpirationDate": (
                batch.expiry_date.isoformat() if batch.expiry_date else None
            ),
        },
    }


async def list_batches(
    session: AsyncSession, actor: Actor, *, limit: int = 50, before_id: int | None = None
) -> Sequence[TraceBatch]:
    organisation_id = acting_organisation(actor, TRACE_READ)
    query = select(TraceBatch).where(TraceBatch.organisation_id == organisation_id)
    if before_id is not None:
        query = query.where(TraceBatch.id < before_id)
    return (await session.scalars(query.order_by(TraceBatch.id.desc()).limit(limit))).all()


async def access_batch(session: AsyncSession, actor: Actor, batch_id: int) -> TraceBatch:
    ensure(actor, TRACE_READ)
    batch = await session.scalar(
        select(TraceBatch).where(TraceBatch.id == batch_id, own_rows(actor, TraceBatch))
    )
    if batch is None:
        raise NotFound(N_("No such batch."))
    return batch


async def record_event(
    session: AsyncSession, actor: Actor, batch: TraceBatch, event: dict[str, Any]
) -> TraceEvent:
    """Append an event we generate ourselves to `batch` (and any other batch it names)."""
    # The caller loaded `batch`; a write still never lands in another organisation's chain.
    if not actor.system and batch.organisation_id != acting_organisation(actor, TRACE_READ):
        raise NotFound(N_("No such batch."))
    row = await record_generated_event(session, batch.organisation_id, event, batches=[batch])
    audit.record(
        session,
        actor,
        "trace.event.record",
        target_type="trace_event",
        target_id=row.id,
        batch_id=batch.id,
        event_id=row.event_id,
    )
    return row

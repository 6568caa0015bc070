"""Events the platform writes itself (inspections, sensor reports, holds, recalls) and the
questions recall and the trace page ask of the chains. Storing and verifying go through the
EPCIS core (`chains.record_generated_event`, `verification.verify_chains`), so every
event, captured or generated, is hashed and chained the same way."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.trace import chains, digital_link, verification
from linli.trace.identifiers import LINLI_BATCH, batch_class
from linli.trace.models import (
    TraceBatch,
    TraceEvent,
)

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def random_code(prefix: str, length: int = 11) -> str:
    return prefix + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


async def batches_named(
    session: AsyncSession, organisation_id: int | None, values: Iterable[str]
) -> dict[str, TraceBatch]:
    """Identifier -> batch, for identifiers naming a batch (GTIN + lot, or urn:linli:batch)."""
    by_lot: dict[tuple[str, str], list[str]] = {}
    by_code: dict[str, list[str]] = {}
    for value in set(values):
        if value.startswith(LINLI_BATCH):
            by_code.setdefault(value[len(LINLI_BATCH) :], []).append(value)
            continue
        pair = digital_link.gtin_and_lot(value)
        if pair is not None:
            by_lot.setdefault(pair, []).append(value)
    found: dict[str, TraceBatch] = {}
    if by_lot:
        query = select(TraceBatch).where(
            TraceBatch.gtin.in_({g for g, _ in by_lot}),
            TraceBatch.lot.in_({lot for _, lot in by_lot}),
        )
        if organisation_id is not None:
            query = query.where(TraceBatch.organisation_id == organisation_id)
        for batch in await session.scalars(query):
            for value in by_lot.get((batch.gtin or "", batch.lot), []):
                found[value] = batch
    if by_code:
        query = select(TraceBatch).where(TraceBatch.code.in_(by_code))
        if organisation_id is not None:
            query = query.where(TraceBatch.organisation_id == organisation_id)
        for batch in await session.scalars(query):
            for value in by_code[batch.code]:
                found[value] = batch
    return found


async def record_event(
    session: AsyncSession,
    organisation_id: int,
    event: dict[str, Any],
    *,
    batches: Sequence[TraceBatch] = (),
) -> TraceEvent:
    """Store an event the platform generated (already valid EPCIS 2.0 JSON) on the chain of
    every batch it names and of `batches`."""
    return await chains.record_generated_event(session, organisation_id, event, batches=batches)


def object_event(
    batch: TraceBatch,
    *,
    biz_step: str,
    when: datetime | None = None,
    disposition: str | None = None,
    read_point: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An OBSERVE ObjectEvent about one batch (its lot as an EPC class, no quantity)."""
    moment = when or clock.now()
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": moment.isoformat(),
        "eventTimeZoneOffset": "+08:00",
        "epcList": [],
        "quantityList": [{"epcClass": batch_class(batch)}],
        "action": "OBSERVE",
        "bizStep": biz_step,
    }
    if disposition:
        event["disposition"] = disposition
    if read_point:
        event["readPoint"] = {"id": read_point}
    event.update(extra or {})
    return event


@dataclass(frozen=True)
class ChainCheck:
    chain: str
    ok: bool
    length: int
    problem: str | None = None


async def verify_batch_chain(session: AsyncSession, batch_id: int) -> ChainCheck:
    """Whether the batch's chain verifies (the trace page shows this). Deep: the page shows
    the journey from the events' indexed columns, so those are checked against the documents
    too (a batch's chain is short, and `verified.py` caches the answer)."""
    checked = await verification.verify_chains(session, batch_id, deep=True)
    broken = checked.broken
    return ChainCheck(
        chains.batch_chain(batch_id),
        broken is None,
        checked.links,
        None if broken is None else f"link {broken.seq}: {broken.problem}",
    )

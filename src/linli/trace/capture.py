"""EPCIS capture: check a document (capture_checks.py) and store its events, all or nothing.
A refused document still leaves a failed capture job saying why."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import TRACE_CAPTURE, TRACE_READ, Actor, acting_organisation
from linli.errors import BadRequest, NotFound
from linli.i18n import N_, Message
from linli.trace import capture_checks as checks
from linli.trace import eventhash
from linli.trace.chains import Pending, batches_named_by, store_all
from linli.trace.columns import columns_of
from linli.trace.identifiers import epcs_of
from linli.trace.models import CAPTURE_FAILED, CAPTURE_SUCCEEDED, TraceCapture, TraceEvent

MAX_TEXT = 300  # indexed identifiers (EPCs, locations, bizStep, eventID)


class CaptureFailed(BadRequest):
    """A refused capture document: the job is kept (failed), nothing else of it is stored."""

    default_code = "capture_refused"


async def capture(session: AsyncSession, actor: Actor, document: Any) -> TraceCapture:
    """Check and store an EPCIS document, all or nothing. A refused document still leaves a
    failed capture job (so GET /epcis/capture/{id} can tell why) and raises CaptureFailed."""
    organisation_id = acting_organisation(actor, TRACE_CAPTURE)
    job = TraceCapture(
        public_id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        user_id=actor.user_id,
        created_at=clock.now(),
        errors=[],
    )
    try:
        captured, events = checks.check_document(document)
        hash_ids = eventhash.document_hash_ids({**document, "epcisBody": {"eventList": captured}})
        _check_storable(events, hash_ids)
        await _check_new_event_ids(session, organisation_id, events, hash_ids)
    except checks.CaptureRefused as refused:
        return await _refuse(session, actor, job, refused.problem)
    job.status, job.event_count, job.finished_at = CAPTURE_SUCCEEDED, len(events), clock.now()
    session.add(job)
    # Flushed with the job, before store_all locks the chain heads: the locked stretch up to
    # the commit then writes nothing but links and heads.
    audit.record(
        session,
        actor,
        "trace.capture",
        target_type="trace_capture",
        target_id=job.public_id,
        events=len(events),
    )
    await session.flush()
    context = _extension_context(document)
    named = await batches_named_by(session, organisation_id, events)
    pending = [
        Pending({"@context": context, **e} if context and "@context" not in e else e, h, b)
        for e, h, b in zip(events, hash_ids, named, strict=True)
    ]
    await store_all(session, organisation_id, pending, job.id)
    return job


async def _refuse(
    session: AsyncSession, actor: Actor, job: TraceCapture, problem: checks.Problem
) -> TraceCapture:
    job.status, job.finished_at, job.errors = CAPTURE_FAILED, clock.now(), [problem.as_dict()]
    session.add(job)
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.capture.refused",
        target_type="trace_capture",
        target_id=job.public_id,
        field=problem.field,
    )
    raise CaptureFailed(
        Message(N_("{field}: {reason}"), {"field": problem.field, "reason": problem.reason}),
        fields={problem.field: Message(N_("{reason}"), {"reason": problem.reason})},
        headers={"Location": f"/epcis/capture/{job.public_id}"},
        keep_changes=True,  # only the failed job: no event was added yet
    )


def _extension_context(document: dict[str, Any]) -> list[Any]:
    """The namespace prefixes a document declares, carried on each event (JSON-LD)."""
    context = document.get("@context")
    return [part for part in context if isinstance(part, dict)] if isinstance(context, list) else []


def _check_storable(events: list[dict[str, Any]], hash_ids: list[str]) -> None:
    for index, (event, hash_id) in enumerate(zip(events, hash_ids, strict=True)):
        columns = columns_of(event, hash_id)
        texts = [
            *(v for _k, v in epcs_of(event)),
            *(
                columns[c]
                for c in ("event_id", "biz_step", "disposition", "read_point", "biz_location")
            ),
        ]
        if any(isinstance(t, str) and len(t) > MAX_TEXT for t in texts):
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}]", f"identifiers longer than {MAX_TEXT}", index
                )
            )


async def _check_new_event_ids(
    session: AsyncSession, organisation_id: int, events: list[dict[str, Any]], hash_ids: list[str]
) -> None:
    ids = [str(e.get("eventID") or h) for e, h in zip(events, hash_ids, strict=True)]
    seen: set[str] = set()
    for index, event_id in enumerate(ids):
        if event_id in seen:
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}].eventID", "appears twice in this document", index
                )
            )
        seen.add(event_id)
    existing = set(
        (
            await session.scalars(
                select(TraceEvent.event_id).where(
                    TraceEvent.organisation_id == organisation_id, TraceEvent.event_id.in_(ids)
                )
            )
        ).all()
    )
    for index, event_id in enumerate(ids):
        if event_id in existing:
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}].eventID", "was captured before", index
                )
            )


async def access_capture(session: AsyncSession, actor: Actor, public_id: str) -> TraceCapture:
    organisation_id = acting_organisation(actor, TRACE_READ)
    job = await session.scalar(
        select(TraceCapture).where(
            TraceCapture.public_id == public_id, TraceCapture.organisation_id == organisation_id
        )
    )
    if job is None:
        raise NotFound(N_("No such capture job."))
    return job

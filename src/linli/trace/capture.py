"""EPCIS capture: check a document (capture_checks.py) and store its events, all or nothing
(captureErrorBehaviour `rollback`, the default) or the valid ones (`proceed`). A refused
document still leaves a failed capture job saying why."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import TRACE_CAPTURE, TRACE_READ, Actor, acting_organisation
from linli.errors import BadRequest, NotFound
from linli.i18n import N_, Message
from linli.trace import capture_checks as checks
from linli.trace import epcis_xml, eventhash
from linli.trace.chains import Pending, batches_named_by, store_all
from linli.trace.columns import columns_of
from linli.trace.identifiers import epcs_of
from linli.trace.models import (
    CAPTURE_FAILED,
    CAPTURE_SUCCEEDED,
    PROCEED,
    ROLLBACK,
    TraceCapture,
    TraceEvent,
)

MAX_TEXT = 300  # indexed identifiers (EPCs, locations, bizStep, eventID)


class CaptureFailed(BadRequest):
    """A refused capture document: the job is kept (failed), nothing else of it is stored."""

    default_code = "capture_refused"


@dataclass(frozen=True)
class XmlDocument:
    """An EPCIS XML capture document (2.0 or 1.2), read and checked by `epcis_xml.parse`."""

    body: bytes
    xsd_dir: Path


async def capture(
    session: AsyncSession,
    actor: Actor,
    document: Any | XmlDocument,
    *,
    error_behaviour: str = ROLLBACK,
) -> TraceCapture:
    """Check and store an EPCIS document (JSON, or XML converted to the same JSON). With
    `rollback` (the default) all or nothing: a refused document still leaves a failed capture
    job (so GET /epcis/capture/{id} can tell why) and raises CaptureFailed. With `proceed` the
    events that pass are stored and the others named in the job's `errors`; only a document
    none of whose events pass (or that fails as a whole) is refused."""
    organisation_id = acting_organisation(actor, TRACE_CAPTURE)
    job = TraceCapture(
        public_id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        user_id=actor.user_id,
        created_at=clock.now(),
        errors=[],
        error_behaviour=error_behaviour,
    )
    warnings: list[checks.Problem] = []
    errors: list[checks.Problem] = []
    refused_later: list[int] = []  # positions refused after the document checks

    def refuse(problem: checks.Problem) -> None:
        if error_behaviour != PROCEED:
            raise checks.CaptureRefused(problem)
        checks.add_warning(errors, problem, "errors")
        refused_later.append(problem.event_index or 0)

    try:
        from_xml = isinstance(document, XmlDocument)
        if isinstance(document, XmlDocument):
            document = epcis_xml.parse(document.body, document.xsd_dir)
        if error_behaviour == PROCEED:
            checked = checks.check_events(document, warnings, from_xml=from_xml)
            errors.extend(checked.errors)
        else:
            captured, normalised = checks.check_document(document, warnings, from_xml=from_xml)
            checked = checks.Checked(captured, normalised, list(range(len(normalised))), [])
        hash_ids = eventhash.document_hash_ids(
            {**document, "epcisBody": {"eventList": checked.captured}}
        )
        storable = _storable(checked.events, hash_ids, checked.positions, refuse)
        events = [checked.events[i] for i in storable]
        hash_ids = [hash_ids[i] for i in storable]
        positions = [checked.positions[i] for i in storable]
        new = await _new_events(
            session, organisation_id, events, hash_ids, positions, warnings, refuse
        )
        if errors and len(refused_later) == len(checked.positions):
            raise checks.CaptureRefused(errors[0])  # proceed, and no event passed
    except checks.CaptureRefused as refused:
        too_large = isinstance(refused, checks.TooManyEvents)
        problems = [refused.problem, *errors[1:]]
        return await _refuse(session, actor, job, problems, warnings, too_large=too_large)
    events = [events[i] for i in new]
    hash_ids = [hash_ids[i] for i in new]
    job.status, job.event_count, job.finished_at = CAPTURE_SUCCEEDED, len(events), clock.now()
    job.warnings = [w.as_dict() for w in warnings]
    job.errors = [e.as_dict() for e in errors]
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
        warnings=len(warnings),
        refused=len(errors),
    )
    for event, hash_id in zip(events, hash_ids, strict=True):
        if "errorDeclaration" in event:
            audit.record(
                session,
                actor,
                "trace.event.declared_in_error",
                # eventIDs run to 300 characters, past the audit log's target column
                target_type="trace_capture",
                target_id=job.public_id,
                event_id=str(event.get("eventID") or hash_id),
                reason=str(event["errorDeclaration"].get("reason", "")),
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
    session: AsyncSession,
    actor: Actor,
    job: TraceCapture,
    problems: list[checks.Problem],
    warnings: list[checks.Problem],
    *,
    too_large: bool = False,
) -> TraceCapture:
    problem = problems[0]
    job.status, job.finished_at = CAPTURE_FAILED, clock.now()
    job.errors = [p.as_dict() for p in problems]
    job.warnings = [w.as_dict() for w in warnings]
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
        # over GS1-EPCIS-Capture-Limit: 413 (the limits are on every /epcis/capture answer)
        status=413 if too_large else None,
        code="capture_too_large" if too_large else None,
    )


def _extension_context(document: dict[str, Any]) -> list[Any]:
    """The namespace prefixes a document declares, carried on each event (JSON-LD)."""
    context = document.get("@context")
    return [part for part in context if isinstance(part, dict)] if isinstance(context, list) else []


def _storable(
    events: list[dict[str, Any]],
    hash_ids: list[str],
    positions: list[int],
    refuse: Callable[[checks.Problem], None],
) -> list[int]:
    """The indexes of the events whose identifiers fit their columns; `refuse` is told of the
    others (and raises, unless captureErrorBehaviour is proceed)."""
    kept: list[int] = []
    for n, (event, hash_id, index) in enumerate(zip(events, hash_ids, positions, strict=True)):
        columns = columns_of(event, hash_id)
        texts = [
            *(v for _k, v in epcs_of(event)),
            *(
                columns[c]
                for c in ("event_id", "biz_step", "disposition", "read_point", "biz_location")
            ),
        ]
        if any(isinstance(t, str) and len(t) > MAX_TEXT for t in texts):
            refuse(
                checks.Problem(
                    f"epcisBody.eventList[{index}]", f"identifiers longer than {MAX_TEXT}", index
                )
            )
            continue
        kept.append(n)
    return kept


async def _new_events(
    session: AsyncSession,
    organisation_id: int,
    events: list[dict[str, Any]],
    hash_ids: list[str],
    positions: list[int],
    warnings: list[checks.Problem],
    refuse: Callable[[checks.Problem], None],
) -> list[int]:
    """The indexes of the events to store (`positions`: their places in the document's
    eventList; `refuse` is told of an event refused, and raises unless captureErrorBehaviour
    is proceed, when the event is left out). An eventID (given, or else the hash id) is
    unique per organisation among events, and separately among error declarations:

    - an event captured before (same eventID, same event hash id) is not stored again (a
      retried push is a no-op, with a warning); with another hash id it is refused, naming
      both;
    - an event with an `errorDeclaration` under the eventID of a stored event is stored as
      that event's error declaration (a correction: the original stays, queries show it
      declared in error, the declaration is a new link of the chains); the same declaration
      again is a no-op, another one is refused.
    """
    ids = [str(e.get("eventID") or h) for e, h in zip(events, hash_ids, strict=True)]
    # an event and its error declaration may come in one document (GS1's own examples do)
    seen: dict[tuple[str, bool], tuple[str, Any]] = {}
    repeated: set[int] = set()
    for n, (event, event_id, hash_id) in enumerate(zip(events, ids, hash_ids, strict=True)):
        index = positions[n]
        key = (event_id, "errorDeclaration" in event)
        content = (hash_id, event.get("errorDeclaration"))
        if key not in seen:
            seen[key] = content
            continue
        repeated.add(n)
        if seen[key] != content:
            refuse(
                checks.Problem(
                    f"epcisBody.eventList[{index}].eventID",
                    "appears twice in this document, with other content",
                    index,
                )
            )
            continue
        checks.add_warning(
            warnings,
            checks.Problem(
                f"epcisBody.eventList[{index}].eventID",
                "appears twice in this document, the same: stored once",
                index,
            ),
        )
    stored: dict[tuple[str, bool], tuple[str, str]] = {
        (event_id, is_correction): (hash_id, document)
        for event_id, is_correction, hash_id, document in (
            await session.execute(
                select(
                    TraceEvent.event_id,
                    TraceEvent.is_correction,
                    TraceEvent.hash_id,
                    TraceEvent.document,
                ).where(TraceEvent.organisation_id == organisation_id, TraceEvent.event_id.in_(ids))
            )
        ).all()
    }
    if not stored and not repeated and not any("errorDeclaration" in e for e in events):
        return list(range(len(events)))
    new: list[int] = []
    for n, (event, event_id, hash_id) in enumerate(zip(events, ids, hash_ids, strict=True)):
        if n in repeated:
            continue
        index = positions[n]
        field = f"epcisBody.eventList[{index}]"
        declares = "errorDeclaration" in event
        before = stored.get((event_id, declares))
        original = stored.get((event_id, False))
        if original is None and declares and (event_id, False) in seen:
            original = (seen[(event_id, False)][0], "")
        if before is not None:
            same = before[0] == hash_id and (
                not declares
                or json.loads(before[1]).get("errorDeclaration") == event["errorDeclaration"]
            )
            if not same and declares:
                refuse(
                    checks.Problem(
                        f"{field}.errorDeclaration",
                        f"event {event_id} was already declared in error, otherwise",
                        index,
                    )
                )
                continue
            if not same:
                refuse(
                    checks.Problem(
                        f"{field}.eventID",
                        f"was captured before with event hash id {before[0]}; this event's "
                        f"is {hash_id} (declare the stored one in error to correct it)",
                        index,
                    )
                )
                continue
            checks.add_warning(
                warnings,
                checks.Problem(
                    f"{field}.eventID", "captured before, the same: not stored again", index
                ),
            )
            continue
        if declares and original is None:
            checks.add_warning(
                warnings,
                checks.Problem(
                    f"{field}.errorDeclaration",
                    f"declares event {event_id} in error, which was not captured here: stored "
                    "as an event declared in error",
                    index,
                ),
            )
        elif declares and original is not None and original[0] != hash_id:
            checks.add_warning(
                warnings,
                checks.Problem(
                    f"{field}.errorDeclaration",
                    f"declares event {event_id} (event hash id {original[0]}) in error, with "
                    f"other content (event hash id {hash_id})",
                    index,
                ),
            )
        new.append(n)
    return new


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


async def capture_jobs(
    session: AsyncSession, actor: Actor, *, per_page: int, before: int | None
) -> tuple[list[TraceCapture], bool]:
    """A page of the acting organisation's capture jobs, newest first, and whether more
    follow (`before`: the id the previous page ended at)."""
    organisation_id = acting_organisation(actor, TRACE_READ)
    query = select(TraceCapture).where(TraceCapture.organisation_id == organisation_id)
    if before is not None:
        query = query.where(TraceCapture.id < before)
    rows = list(
        (await session.scalars(query.order_by(TraceCapture.id.desc()).limit(per_page + 1))).all()
    )
    return rows[:per_page], len(rows) > per_page

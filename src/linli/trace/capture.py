"""EPCIS capture: check a document (capture_checks.py) and store its events, all or nothing.
A refused document still leaves a failed capture job saying why."""

from __future__ import annotations

import json
import uuid
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
from linli.trace.models import CAPTURE_FAILED, CAPTURE_SUCCEEDED, TraceCapture, TraceEvent

MAX_TEXT = 300  # indexed identifiers (EPCs, locations, bizStep, eventID)


class CaptureFailed(BadRequest):
    """A refused capture document: the job is kept (failed), nothing else of it is stored."""

    default_code = "capture_refused"


@dataclass(frozen=True)
class XmlDocument:
    """An EPCIS XML capture document (2.0 or 1.2), read and checked by `epcis_xml.parse`."""

    body: bytes
    xsd_dir: Path


async def capture(session: AsyncSession, actor: Actor, document: Any | XmlDocument) -> TraceCapture:
    """Check and store an EPCIS document (JSON, or XML converted to the same JSON), all or
    nothing. A refused document still leaves a failed capture job (so GET
    /epcis/capture/{id} can tell why) and raises CaptureFailed."""
    organisation_id = acting_organisation(actor, TRACE_CAPTURE)
    job = TraceCapture(
        public_id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        user_id=actor.user_id,
        created_at=clock.now(),
        errors=[],
    )
    warnings: list[checks.Problem] = []
    try:
        from_xml = isinstance(document, XmlDocument)
        if isinstance(document, XmlDocument):
            document = epcis_xml.parse(document.body, document.xsd_dir)
        captured, events = checks.check_document(document, warnings, from_xml=from_xml)
        hash_ids = eventhash.document_hash_ids({**document, "epcisBody": {"eventList": captured}})
        _check_storable(events, hash_ids)
        new = await _new_events(session, organisation_id, events, hash_ids, warnings)
    except checks.CaptureRefused as refused:
        return await _refuse(session, actor, job, refused.problem, warnings)
    events = [events[i] for i in new]
    hash_ids = [hash_ids[i] for i in new]
    job.status, job.event_count, job.finished_at = CAPTURE_SUCCEEDED, len(events), clock.now()
    job.warnings = [w.as_dict() for w in warnings]
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
    problem: checks.Problem,
    warnings: list[checks.Problem],
) -> TraceCapture:
    job.status, job.finished_at, job.errors = CAPTURE_FAILED, clock.now(), [problem.as_dict()]
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


async def _new_events(
    session: AsyncSession,
    organisation_id: int,
    events: list[dict[str, Any]],
    hash_ids: list[str],
    warnings: list[checks.Problem],
) -> list[int]:
    """The indexes of the events to store. An eventID (given, or else the hash id) is unique
    per organisation among events, and separately among error declarations:

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
    for index, (event, event_id, hash_id) in enumerate(zip(events, ids, hash_ids, strict=True)):
        key = (event_id, "errorDeclaration" in event)
        content = (hash_id, event.get("errorDeclaration"))
        if key not in seen:
            seen[key] = content
            continue
        if seen[key] != content:
            raise checks.CaptureRefused(
                checks.Problem(
                    f"epcisBody.eventList[{index}].eventID",
                    "appears twice in this document, with other content",
                    index,
                )
            )
        repeated.add(index)
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
    for index, (event, event_id, hash_id) in enumerate(zip(events, ids, hash_ids, strict=True)):
        if index in repeated:
            continue
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
                raise checks.CaptureRefused(
                    checks.Problem(
                        f"{field}.errorDeclaration",
                        f"event {event_id} was already declared in error, otherwise",
                        index,
                    )
                )
            if not same:
                raise checks.CaptureRefused(
                    checks.Problem(
                        f"{field}.eventID",
                        f"was captured before with event hash id {before[0]}; this event's "
                        f"is {hash_id} (declare the stored one in error to correct it)",
                        index,
                    )
                )
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
        new.append(index)
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

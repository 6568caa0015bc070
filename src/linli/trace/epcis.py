"""The capture half of the EPCIS 2.0 REST interface at /epcis, after the standard's REST
bindings: capture answers 202 with the capture job's Location; `GS1-Capture-Error-Behaviour:
proceed` stores the valid events of a document and names the others in the job's errors.
Queries, discovery, named queries and subscriptions are in `epcis_query`; the GS1 headers
(with the capture limits on /epcis/capture), 406 and 415 in `epcis_headers`."""

from __future__ import annotations

import json
import pathlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from linli.authz import TRACE_CAPTURE, TRACE_READ, Actor, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES, ErrorOut
from linli.errors import BadRequest, UnsupportedMediaType
from linli.i18n import N_
from linli.trace import capture as capturing
from linli.trace import epcis_xml
from linli.trace.epcis_headers import ERROR_BEHAVIOUR_HEADER
from linli.trace.models import CAPTURE_SUCCEEDED, PROCEED, ROLLBACK, TraceCapture
from linli.trace.schemas import CaptureJobOut

router = APIRouter(prefix="/epcis", tags=["epcis"], responses=ERROR_RESPONSES)

# No Content-Type at all is read as JSON, as before XML capture existed.
JSON_TYPES = ("application/json", "application/ld+json", "")
Capturer = Annotated[Actor, Depends(require(TRACE_CAPTURE))]
Reader = Annotated[Actor, Depends(require(TRACE_READ))]

CAPTURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "string"}},
            "text/xml": {"schema": {"type": "string"}},
        },
    }
}


def present_capture_job(job: TraceCapture) -> CaptureJobOut:
    """The capture job in the EPCIS 2.0 REST binding's names and terms."""
    return CaptureJobOut(
        captureID=job.public_id,
        createdAt=job.created_at,
        finishedAt=job.finished_at,
        running=False,
        # with proceed, a job that stored some events and refused others did not succeed
        success=job.status == CAPTURE_SUCCEEDED and not job.errors,
        captureErrorBehaviour=PROCEED if job.error_behaviour == PROCEED else ROLLBACK,
        eventCount=job.event_count,
        errors=list(job.errors),
        warnings=list(job.warnings or []),
    )


@router.post(
    "/capture",
    status_code=202,
    summary="Capture an EPCIS 2.0 document, JSON or XML (2.0 or 1.2), all or nothing",
    openapi_extra=CAPTURE_BODY,
    responses={415: {"model": ErrorOut}},
)
async def capture(request: Request, session: DbSession, actor: Capturer) -> JSONResponse:
    behaviour = request.headers.get(ERROR_BEHAVIOUR_HEADER, ROLLBACK).strip().lower()
    if behaviour not in (ROLLBACK, PROCEED):
        raise BadRequest(
            N_("GS1-Capture-Error-Behaviour is rollback or proceed."),
            code="bad_error_behaviour",
            fields={ERROR_BEHAVIOUR_HEADER: N_("Use rollback or proceed.")},
        )
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    document: Any
    if media_type in epcis_xml.XML_TYPES:
        shared: pathlib.Path | None = request.app.state.settings.shared_dir
        xsd_dir = shared / "data" / "epcis" / "xsd" if shared is not None else None
        if xsd_dir is None or not epcis_xml.xsd_available(xsd_dir):
            raise UnsupportedMediaType(
                N_("XML capture is not available here: the EPCIS XML schemas are not installed.")
            )
        document = capturing.XmlDocument(await request.body(), xsd_dir)
    elif media_type in JSON_TYPES:
        try:
            document = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadRequest(N_("The body is not valid JSON."), code="malformed_json") from None
    else:
        raise UnsupportedMediaType(
            N_("Send EPCIS JSON (application/json, application/ld+json) or XML (application/xml).")
        )
    job = await capturing.capture(session, actor, document, error_behaviour=behaviour)
    location = f"/epcis/capture/{job.public_id}"
    return JSONResponse(
        {"captureID": job.public_id},
        status_code=202,
        headers={"Location": location, ERROR_BEHAVIOUR_HEADER: behaviour},
    )


@router.options(
    "/capture",
    status_code=204,
    summary="The capture interface's settings: versions, limits, error behaviour (headers)",
)
async def capture_options() -> Response:
    """Anyone may ask: the answer is the GS1 headers (`epcis_headers`), no data."""
    return Response(status_code=204, headers={"Allow": "OPTIONS, GET, POST"})


@router.get("/capture", summary="Your capture jobs, newest first")
async def capture_jobs(
    session: DbSession,
    actor: Reader,
    request: Request,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 30,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken", max_length=20)] = None,
) -> JSONResponse:
    before = None
    if next_page_token is not None:
        if not next_page_token.isdigit():
            raise BadRequest(N_("The nextPageToken is not one we gave."), code="bad_page_token")
        before = int(next_page_token)
    jobs, more = await capturing.capture_jobs(session, actor, per_page=per_page, before=before)
    headers: dict[str, str] = {}
    if more:
        headers["Link"] = (
            f'<{request.url.path}?perPage={per_page}&nextPageToken={jobs[-1].id}>; rel="next"'
        )
    body = [present_capture_job(job).model_dump(mode="json") for job in jobs]
    return JSONResponse(body, headers=headers)


@router.get("/capture/{capture_id}", summary="Whether a capture job succeeded, and why not")
async def capture_job(
    capture_id: Annotated[str, Path(max_length=36)], session: DbSession, actor: Reader
) -> CaptureJobOut:
    return present_capture_job(await capturing.access_capture(session, actor, capture_id))

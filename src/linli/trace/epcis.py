"""The capture half of the EPCIS 2.0 REST interface at /epcis, after the standard's REST
bindings: capture answers 202 with the capture job's Location. Queries, discovery, named
queries and subscriptions are in `epcis_query`."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from linli.authz import TRACE_CAPTURE, TRACE_READ, Actor, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import BadRequest
from linli.i18n import N_
from linli.trace import capture as capturing
from linli.trace.models import CAPTURE_SUCCEEDED, TraceCapture
from linli.trace.schemas import CaptureJobOut

router = APIRouter(prefix="/epcis", tags=["epcis"], responses=ERROR_RESPONSES)
EPCIS_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}

Capturer = Annotated[Actor, Depends(require(TRACE_CAPTURE))]
Reader = Annotated[Actor, Depends(require(TRACE_READ))]

CAPTURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
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
        success=job.status == CAPTURE_SUCCEEDED,
        eventCount=job.event_count,
        errors=list(job.errors),
    )


@router.post(
    "/capture",
    status_code=202,
    summary="Capture an EPCIS 2.0 document (all or nothing)",
    openapi_extra=CAPTURE_BODY,
)
async def capture(request: Request, session: DbSession, actor: Capturer) -> JSONResponse:
    try:
        document = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(N_("The body is not valid JSON."), code="malformed_json") from None
    job = await capturing.capture(session, actor, document)
    location = f"/epcis/capture/{job.public_id}"
    return JSONResponse(
        {"captureID": job.public_id},
        status_code=202,
        headers={"Location": location, **EPCIS_HEADERS},
    )


@router.get("/capture/{capture_id}", summary="Whether a capture job succeeded, and why not")
async def capture_job(
    capture_id: Annotated[str, Path(max_length=36)], session: DbSession, actor: Reader
) -> CaptureJobOut:
    return present_capture_job(await capturing.access_capture(session, actor, capture_id))

"""The EPCIS 2.0 REST interface at /epcis (capture and events), after the standard's
REST bindings: capture answers 202 with the capture job's Location; queries answer an
EPCISQueryDocument, paged with perPage / nextPageToken and a Link header."""

from __future__ import annotations

import json
import pathlib
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from linli.authz import TRACE_CAPTURE, TRACE_READ, Actor, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES, ErrorOut
from linli.errors import BadRequest, UnsupportedMediaType
from linli.i18n import N_
from linli.trace import capture as capturing
from linli.trace import epcis_xml, queries
from linli.trace.capture_checks import parse_time
from linli.trace.models import CAPTURE_SUCCEEDED, EVENT_TYPES, TraceCapture
from linli.trace.schemas import CaptureJobOut

router = APIRouter(prefix="/epcis", tags=["epcis"], responses=ERROR_RESPONSES)
EPCIS_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}

# No Content-Type at all is read as JSON, as before XML capture existed.
JSON_TYPES = ("application/json", "application/ld+json", "")
Capturer = Annotated[Actor, Depends(require(TRACE_CAPTURE))]
Reader = Annotated[Actor, Depends(require(TRACE_READ))]
Values = Annotated[list[str] | None, Query(max_length=20)]
Time = Annotated[str | None, Query(max_length=40, description="RFC 3339 date-time")]

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
        success=job.status == CAPTURE_SUCCEEDED,
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


def _split(values: list[str] | None) -> list[str]:
    """Repeated parameters, each of which may list values separated by '|'."""
    return [v for value in values or [] for v in value.split("|") if v]


def _time(name: str, value: str | None) -> Any:
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise BadRequest(
            N_("{name} must be an RFC 3339 date-time with a time zone."),
            code="bad_time",
            fields={name: N_("Use e.g. 2024-05-01T08:00:00+08:00.")},
            name=name,
        )
    return moment


def _token(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise BadRequest(N_("The nextPageToken is not one we gave."), code="bad_page_token")
    return int(value)


@router.get("/events", summary="Query your events (EPCISQueryDocument)")
async def events(
    request: Request,
    session: DbSession,
    actor: Reader,
    event_type: Annotated[list[str] | None, Query(alias="eventType", max_length=5)] = None,
    ge_event_time: Annotated[Time, Query(alias="GE_eventTime")] = None,
    lt_event_time: Annotated[Time, Query(alias="LT_eventTime")] = None,
    ge_record_time: Annotated[Time, Query(alias="GE_recordTime")] = None,
    lt_record_time: Annotated[Time, Query(alias="LT_recordTime")] = None,
    eq_biz_step: Annotated[Values, Query(alias="EQ_bizStep")] = None,
    eq_disposition: Annotated[Values, Query(alias="EQ_disposition")] = None,
    eq_read_point: Annotated[Values, Query(alias="EQ_readPoint")] = None,
    eq_biz_location: Annotated[Values, Query(alias="EQ_bizLocation")] = None,
    match_epc: Annotated[Values, Query(alias="MATCH_epc")] = None,
    match_any_epc_class: Annotated[Values, Query(alias="MATCH_anyEPCClass")] = None,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 100,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken", max_length=40)] = None,
) -> Response:
    types = _split(event_type)
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise BadRequest(
            N_("Unknown eventType: {types}."), code="bad_event_type", types=", ".join(unknown)
        )
    query = queries.EventQuery(
        event_types=types,
        ge_event_time=_time("GE_eventTime", ge_event_time),
        lt_event_time=_time("LT_eventTime", lt_event_time),
        ge_record_time=_time("GE_recordTime", ge_record_time),
        lt_record_time=_time("LT_recordTime", lt_record_time),
        biz_steps=_split(eq_biz_step),
        dispositions=_split(eq_disposition),
        read_points=_split(eq_read_point),
        biz_locations=_split(eq_biz_location),
        match_epc=_split(match_epc),
        match_any_epc_class=_split(match_any_epc_class),
        per_page=per_page,
        after_id=_token(next_page_token),
    )
    rows, after = await queries.query_events(session, actor, query)
    headers = dict(EPCIS_HEADERS)
    if after is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
        url = f"{request.url.path}?{urlencode([*params, ('nextPageToken', str(after))])}"
        headers["Link"] = f'<{url}>; rel="next"'
    declared = await queries.declarations(session, rows)
    return _answer(request, queries.query_document(rows, declared), headers)


@router.get("/events/{event_id:path}", summary="One of your events (EPCISQueryDocument)")
async def event(
    request: Request,
    event_id: Annotated[str, Path(max_length=300)],
    session: DbSession,
    actor: Reader,
) -> Response:
    row = await queries.access_event(session, actor, event_id)
    declared = await queries.declarations(session, [row])
    return _answer(request, queries.query_document([row], declared), EPCIS_HEADERS)


def _answer(request: Request, document: dict[str, Any], headers: dict[str, str]) -> Response:
    """The query document as JSON-LD, or in the XML binding when the client accepts XML and
    not JSON (`Accept: application/xml`)."""
    accept = request.headers.get("accept", "").lower()
    if "xml" in accept and "json" not in accept:
        return Response(
            epcis_xml.query_document_xml(document),
            headers=headers,
            media_type="application/xml",
        )
    return JSONResponse(document, headers=headers, media_type="application/ld+json")

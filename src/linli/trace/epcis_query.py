"""The query half of the EPCIS 2.0 REST interface at /epcis: events (every SimpleEventQuery
parameter of `query_params`), one event by its id, the discovery endpoints (`/eventTypes`,
`/epcs`, `/bizSteps`, `/bizLocations`, `/readPoints`, `/dispositions`) and named queries
(`/queries`), each of the caller's organisation only, paged with perPage / nextPageToken and a
`Link: rel="next"` header. The GS1 headers, 406 and 415 are `epcis_headers`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from linli.authz import TRACE_MANAGE, TRACE_READ, Actor, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import BadRequest
from linli.i18n import N_
from linli.trace import (
    discovery,
    epcis_xml,
    named_queries,
    queries,
    query_params,
    subscriptions,
)
from linli.trace.query_models import TraceNamedQuery, TraceSubscription
from linli.trace.schemas import (
    NamedQueryIn,
    NamedQueryOut,
    SubscriptionCreatedOut,
    SubscriptionIn,
    SubscriptionOut,
)

router = APIRouter(prefix="/epcis", tags=["epcis"], responses=ERROR_RESPONSES)
JSON_LD = "application/ld+json"

Reader = Annotated[Actor, Depends(require(TRACE_READ))]
Manager = Annotated[Actor, Depends(require(TRACE_MANAGE))]
QueryName = Annotated[str, Path(max_length=100)]
SubscriptionId = Annotated[str, Path(max_length=36)]
PerPage = Annotated[int, Query(alias="perPage", ge=1, le=1000)]
PageToken = Annotated[str | None, Query(alias="nextPageToken", max_length=60)]

EVENTS_DESCRIPTION = """The organisation's events as an EPCISQueryDocument, in capture order
unless `orderBy` is given. Parameters of the EPCIS 2.0 SimpleEventQuery (docs/trace.md):
`eventType`, `GE_/LT_eventTime`, `GE_/LT_recordTime`, `EQ_action`, `EQ_bizStep`,
`EQ_disposition`, `EQ_readPoint`, `EQ_bizLocation`, `WD_readPoint`, `WD_bizLocation` (by the
identifier's own hierarchy: a GLN and its extensions), `EQ_persistentDisposition_set`,
`EQ_persistentDisposition_unset`, `EQ_transformationID`, `EQ_eventID`, `MATCH_epc`,
`MATCH_parentID`, `MATCH_inputEPC`, `MATCH_outputEPC`, `MATCH_anyEPC`, `MATCH_epcClass`,
`MATCH_inputEPCClass`, `MATCH_outputEPCClass`, `MATCH_anyEPCClass`,
`EQ_/GT_/GE_/LT_/LE_quantity`, `EQ_bizTransaction_{type}`, `EQ_source_{type}`,
`EQ_destination_{type}`, `EXISTS_{field}`, `GE_/LT_errorDeclarationTime`, `EQ_errorReason`,
`EQ_correctiveEventID`, `EQ_ERROR_DECLARATION_{field}`, `EXISTS_ERROR_DECLARATION_{field}`,
`EQ_type` and `EQ_/GT_/GE_/LT_/LE_{value|minValue|maxValue|meanValue|sDev|percValue|percRank}
[_{uom}]`, `EQ_deviceID`, `EQ_deviceMetadata`, `EQ_rawData`, `EQ_dataProcessingMethod`,
`EQ_bizRules`, `EQ_microorganism`, `EQ_chemicalSubstance`, `EQ_stringValue`,
`EQ_booleanValue`, `EQ_hexBinaryValue`, `EQ_uriValue`, `GE_/LT_time`, `GE_/LT_startTime`,
`GE_/LT_endTime` on sensor reports, `orderBy`, `orderDirection`, `eventCountLimit`,
`maxEventCount`. Any other parameter answers 400."""


def next_link(request: Request, token: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
    url = f"{request.url.path}?{urlencode([*params, ('nextPageToken', token)])}"
    return f'<{url}>; rel="next"'


async def events_response(request: Request, session: DbSession, page: queries.Page) -> Response:
    headers: dict[str, str] = {}
    if page.next is not None:
        headers["Link"] = next_link(request, page.next.token())
    declared = await queries.declarations(session, page.rows)
    return answer(request, queries.query_document(page.rows, declared), headers)


def answer(request: Request, document: dict[str, Any], headers: dict[str, str]) -> Response:
    """The query document as JSON-LD, or in the XML binding when the client accepts XML and
    not JSON (`Accept: application/xml`)."""
    accept = request.headers.get("accept", "").lower()
    if "xml" in accept and "json" not in accept:
        return Response(
            epcis_xml.query_document_xml(document), headers=headers, media_type="application/xml"
        )
    return JSONResponse(document, headers=headers, media_type=JSON_LD)


@router.get(
    "/events",
    summary="Query your events (EPCISQueryDocument)",
    description=EVENTS_DESCRIPTION,
)
async def events(
    request: Request,
    session: DbSession,
    actor: Reader,
    per_page: PerPage = 100,
    next_page_token: PageToken = None,
) -> Response:
    query = query_params.parse(request.query_params.multi_items())
    query = queries.EventQuery(**{**query.__dict__, "per_page": per_page})
    cursor = queries.parse_token(next_page_token)
    page = await queries.query_events(session, actor, query, cursor)
    return await events_response(request, session, page)


@router.get("/events/{event_id:path}", summary="One of your events (EPCISQueryDocument)")
async def event(
    request: Request,
    event_id: Annotated[str, Path(max_length=300)],
    session: DbSession,
    actor: Reader,
) -> Response:
    row = await queries.access_event(session, actor, event_id)
    declared = await queries.declarations(session, [row])
    return answer(request, queries.query_document([row], declared), {})


def collection(request: Request, members: Sequence[str], token: str | None) -> JSONResponse:
    """A discovery answer: the values, and a Link to the next page when there is one."""
    headers: dict[str, str] = {}
    if token is not None:
        headers["Link"] = next_link(request, token)
    body: dict[str, Any] = {"@context": [queries.EPCIS_CONTEXT], "type": "Collection"}
    body["member"] = list(members)
    return JSONResponse(body, headers=headers, media_type=JSON_LD)


DISCOVERY = {
    "eventTypes": "The event types of your events",
    "epcs": "The EPCs your events name",
    "bizSteps": "The business steps of your events",
    "bizLocations": "The business locations of your events",
    "readPoints": "The read points of your events",
    "dispositions": "The dispositions of your events",
}


def _discovery_route(what: str, summary: str) -> None:
    """GET /epcis/{what}: the distinct values among the caller's own events, paged."""

    async def discover(
        request: Request,
        session: DbSession,
        actor: Reader,
        per_page: PerPage = 100,
        next_page_token: PageToken = None,
    ) -> JSONResponse:
        members, after = await discovery.values(
            session, actor, what, per_page=per_page, after=discovery.parse_token(next_page_token)
        )
        return collection(request, members, after)

    discover.__name__ = f"discover_{what}"
    router.get(f"/{what}", summary=summary)(discover)


for _what, _summary in DISCOVERY.items():
    _discovery_route(_what, _summary)


def present_query(named: TraceNamedQuery) -> NamedQueryOut:
    return NamedQueryOut(name=named.name, query=named.parameters, createdAt=named.created_at)


@router.post("/queries", status_code=201, summary="Save a named query")
async def create_query(body: NamedQueryIn, session: DbSession, actor: Manager) -> JSONResponse:
    named = await named_queries.create(session, actor, body.name, body.query)
    return JSONResponse(
        present_query(named).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/epcis/queries/{named.name}"},
    )


@router.get("/queries", summary="Your named queries, by name")
async def list_queries(
    request: Request,
    session: DbSession,
    actor: Reader,
    per_page: PerPage = 100,
    next_page_token: PageToken = None,
) -> JSONResponse:
    rows, after = await named_queries.listed(
        session, actor, per_page=per_page, after=discovery.parse_token(next_page_token)
    )
    headers: dict[str, str] = {}
    if after is not None:
        headers["Link"] = next_link(request, discovery.token_of(after))
    body = [present_query(row).model_dump(mode="json") for row in rows]
    return JSONResponse(body, headers=headers)


@router.get("/queries/{query_name}", summary="One of your named queries")
async def get_query(query_name: QueryName, session: DbSession, actor: Reader) -> NamedQueryOut:
    return present_query(await named_queries.access(session, actor, query_name))


@router.get("/queries/{query_name}/events", summary="Run one of your named queries")
async def run_query(
    request: Request,
    query_name: QueryName,
    session: DbSession,
    actor: Reader,
    per_page: PerPage = 100,
    next_page_token: PageToken = None,
) -> Response:
    extra = [k for k in request.query_params if k not in query_params.PAGING]
    if extra:
        raise BadRequest(
            N_("A named query takes only perPage and nextPageToken."),
            code="query_parameter",
            fields={extra[0]: N_("Not a parameter of a named query's run.")},
        )
    named = await named_queries.access(session, actor, query_name)
    query = named_queries.event_query(named, per_page)
    cursor = queries.parse_token(next_page_token)
    page = await queries.query_events(session, actor, query, cursor)
    return await events_response(request, session, page)


@router.delete("/queries/{query_name}", status_code=204, summary="Delete one of your named queries")
async def delete_query(query_name: QueryName, session: DbSession, actor: Manager) -> None:
    await named_queries.delete(session, actor, query_name)


def present_subscription(row: TraceSubscription, query_name: str) -> SubscriptionOut:
    return SubscriptionOut(
        subscriptionID=row.public_id,
        queryName=query_name,
        dest=row.destination,
        active=row.active,
        failures=row.failures,
        delivered=row.delivered,
        lastError=row.last_error,
        createdAt=row.created_at,
        deactivatedAt=row.deactivated_at,
        stream=row.stream,
        schedule=row.schedule,
        reportIfEmpty=row.report_if_empty,
        initialRecordTime=row.initial_record_time,
        lastRunAt=row.last_run_at,
    )


@router.post(
    "/queries/{query_name}/subscriptions",
    status_code=201,
    summary="Subscribe a webhook to one of your named queries",
)
async def subscribe(
    query_name: QueryName, body: SubscriptionIn, session: DbSession, actor: Manager
) -> JSONResponse:
    scheduled = body.schedule is not None
    if (body.stream is True and scheduled) or (body.stream is False and not scheduled):
        raise BadRequest(
            N_("A subscription has either stream: true or a schedule, exactly one of the two."),
            code="bad_subscription",
            fields={"schedule": N_("Give stream: true or a schedule.")},
        )
    if not scheduled and (body.reportIfEmpty or body.initialRecordTime is not None):
        raise BadRequest(
            N_("reportIfEmpty and initialRecordTime belong to scheduled subscriptions."),
            code="bad_subscription",
            fields={"reportIfEmpty": N_("Only with a schedule.")},
        )
    row = await subscriptions.create(
        session,
        actor,
        query_name,
        body.dest,
        schedule=body.schedule.model_dump() if body.schedule is not None else None,
        report_if_empty=body.reportIfEmpty,
        initial_record_time=body.initialRecordTime,
    )
    out = SubscriptionCreatedOut(
        **present_subscription(row, query_name).model_dump(), secret=row.secret
    )
    location = f"/epcis/queries/{query_name}/subscriptions/{row.public_id}"
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=201,
        headers={"Location": location},
    )


@router.get("/queries/{query_name}/subscriptions", summary="The subscriptions of a named query")
async def list_subscriptions(
    query_name: QueryName, session: DbSession, actor: Reader
) -> list[SubscriptionOut]:
    rows = await subscriptions.listed(session, actor, query_name)
    return [present_subscription(row, query_name) for row in rows]


@router.get(
    "/queries/{query_name}/subscriptions/{subscription_id}",
    summary="One subscription: active, its failures and deliveries",
)
async def get_subscription(
    query_name: QueryName, subscription_id: SubscriptionId, session: DbSession, actor: Reader
) -> SubscriptionOut:
    row = await subscriptions.access(session, actor, query_name, subscription_id)
    return present_subscription(row, query_name)


@router.delete(
    "/queries/{query_name}/subscriptions/{subscription_id}",
    status_code=204,
    summary="Unsubscribe",
)
async def unsubscribe(
    query_name: QueryName, subscription_id: SubscriptionId, session: DbSession, actor: Manager
) -> None:
    await subscriptions.delete(session, actor, query_name, subscription_id)

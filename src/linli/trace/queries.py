"""EPCIS queries: the actor's events by the SimpleEventQuery parameters (read by
`query_params`), in capture order or by `orderBy`, and the stored events exported as an EPCIS
2.0 query document. Parameters on indexed columns are SQL conditions; the others (which field
names an EPC, bizTransaction/source/destination types, sensor reports, error declarations,
EXISTS_) narrow the events in SQL where they can and are decided on the event's document."""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from linli import clock
from linli.authz import TRACE_READ, Actor, ensure
from linli.db import escape_like
from linli.errors import BadRequest, DomainError, NotFound
from linli.i18n import N_
from linli.trace import digital_link, vocab
from linli.trace.capture_checks import parse_time
from linli.trace.identifiers import canonical_epc
from linli.trace.models import EPC_CLASS, EPC_INSTANCE, TraceEvent, TraceEventBatch, TraceEventEpc
from linli.trace.policies import own_rows

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


SENSOR_FIELDS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percValue", "percRank")
# EQ_{field} on a sensor report, or on its element's sensorMetadata (EPCIS 2.0 §8.2.7.1)
SENSOR_TEXT_FIELDS = (
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
    "microorganism",
    "chemicalSubstance",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
)
SENSOR_TIME_FIELDS = ("time", "startTime", "endTime")
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
CHUNK = 500  # events read at a time when a parameter is checked on the document


class QueryTooLarge(DomainError):
    """The standard's QueryTooLargeException: more events match than maxEventCount."""

    status_code = 413
    default_code = "query_too_large"


@dataclass(frozen=True)
class TypedValues:
    """`EQ_bizTransaction_{kind}` and the like: a type (or a field name) and its values."""

    kind: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SensorBound:
    """`GE_value_CEL=4`: a sensor report field, the comparison, the unit (None: any), the bound."""

    field: str
    op: str  # EQ, GT, GE, LT, LE
    uom: str | None
    bound: float


@dataclass(frozen=True)
class SensorTime:
    """`GE_time=...`: a sensor time field (of the report, else of its sensorMetadata)."""

    field: str  # time, startTime, endTime
    op: str  # GE, LT
    moment: datetime


@dataclass(frozen=True)
class Bound:
    """`GE_quantity=5`: a comparison and its bound."""

    op: str  # EQ, GT, GE, LT, LE
    bound: float


@dataclass(frozen=True)
class EventQuery:
    event_types: Sequence[str] = ()
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    ge_record_time: datetime | None = None
    lt_record_time: datetime | None = None
    actions: Sequence[str] = ()
    biz_steps: Sequence[str] = ()
    dispositions: Sequence[str] = ()
    read_points: Sequence[str] = ()
    biz_locations: Sequence[str] = ()
    wd_read_points: Sequence[str] = ()  # WD_readPoint: the location or one inside it
    wd_biz_locations: Sequence[str] = ()
    persistent_set: Sequence[str] = ()  # EQ_persistentDisposition_set
    persistent_unset: Sequence[str] = ()
    transformation_ids: Sequence[str] = ()
    quantity_bounds: Sequence[Bound] = ()
    event_ids: Sequence[str] = ()
    match_epc: Sequence[str] = ()
    match_parent_id: Sequence[str] = ()
    match_input_epc: Sequence[str] = ()
    match_output_epc: Sequence[str] = ()
    match_any_epc: Sequence[str] = ()
    match_epc_class: Sequence[str] = ()
    match_input_epc_class: Sequence[str] = ()
    match_output_epc_class: Sequence[str] = ()
    match_any_epc_class: Sequence[str] = ()
    biz_transactions: Sequence[TypedValues] = ()
    sources: Sequence[TypedValues] = ()
    destinations: Sequence[TypedValues] = ()
    exists: Sequence[str] = ()
    ge_error_declaration_time: datetime | None = None
    lt_error_declaration_time: datetime | None = None
    error_reasons: Sequence[str] = ()
    corrective_event_ids: Sequence[str] = ()
    error_declaration_fields: Sequence[TypedValues] = ()
    exists_error_declaration_fields: Sequence[str] = ()
    sensor_types: Sequence[str] = ()
    sensor_bounds: Sequence[SensorBound] = ()
    sensor_values: Sequence[TypedValues] = ()  # EQ_deviceID and the other SENSOR_TEXT_FIELDS
    sensor_times: Sequence[SensorTime] = ()
    order_by: str | None = None  # eventTime, recordTime; None: capture order
    order_desc: bool = True  # the standard's default direction once orderBy is given
    event_count_limit: int | None = None
    max_event_count: int | None = None
    batch_id: int | None = None
    per_page: int = 100


@dataclass(frozen=True)
class Cursor:
    """Where a page continues: after the row with `after_id` (and `after_time`, the value of the
    ordering column), `returned` events having been returned on the pages before."""

    after_id: int | None = None
    after_time: datetime | None = None
    returned: int = 0

    def token(self) -> str:
        if self.after_time is None and not self.returned:
            return str(self.after_id)
        micros = "" if self.after_time is None else str((self.after_time - EPOCH) // MICROSECOND)
        return f"{self.after_id}.{micros}.{self.returned}"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
_TOKEN = re.compile(r"^(\d{1,18})(?:\.(-?\d{1,18})?\.(\d{1,9}))?$")


def parse_token(value: str | None) -> Cursor:
    if value is None:
        return Cursor()
    found = _TOKEN.match(value)
    if not found:
        raise BadRequest(N_("The nextPageToken is not one we gave."), code="bad_page_token")
    try:
        moment = None if found[2] is None else EPOCH + int(found[2]) * MICROSECOND
    except OverflowError:
        raise BadRequest(
            N_("The nextPageToken is not one we gave."), code="bad_page_token"
        ) from None
    return Cursor(int(found[1]), moment, int(found[3] or 0))


@dataclass(frozen=True)
class Page:
    rows: Sequence[TraceEvent]
    next: Cursor | None


def _order_column(q: EventQuery) -> Any:
    if q.order_by == "recordTime":
        return TraceEvent.record_time
    if q.order_by == "eventTime":
        return TraceEvent.event_time
    return None


def _ordered(query: Any, q: EventQuery, cursor: Cursor) -> Any:
    column = _order_column(q)
    if column is None:
        if cursor.after_id is not None:
            query = query.where(TraceEvent.id > cursor.after_id)
        return query.order_by(TraceEvent.id)
    if cursor.after_id is not None:
        if cursor.after_time is None:
            raise BadRequest(N_("The nextPageToken is not one we gave."), code="bad_page_token")
        if q.order_desc:
            after = or_(
                column < cursor.after_time,
                and_(column == cursor.after_time, TraceEvent.id < cursor.after_id),
            )
        else:
            after = or_(
                column > cursor.after_time,
                and_(column == cursor.after_time, TraceEvent.id > cursor.after_id),
            )
        query = query.where(after)
    if q.order_desc:
        return query.order_by(column.desc(), TraceEvent.id.desc())
    return query.order_by(column, TraceEvent.id)


def _cursor_after(q: EventQuery, row: TraceEvent, returned: int) -> Cursor:
    if q.order_by is None:
        return Cursor(row.id, None, returned if q.event_count_limit else 0)
    moment = row.record_time if q.order_by == "recordTime" else row.event_time
    return Cursor(row.id, moment, returned)


def scoped(actor: Actor, q: EventQuery) -> Any:
    """The actor's events the SQL conditions of `q` select (the document checks come after)."""
    query = select(TraceEvent).where(own_rows(actor, TraceEvent))
    if not asks_error_declarations(q):
        # The event declared in error is returned, with its declaration (`declarations`);
        # asked about declarations, the declarations themselves (event and errorDeclaration).
        query = query.where(_not_a_declaration_of_another())
    for condition in _conditions(q):
        query = query.where(condition)
    return query


async def query_events(
    session: AsyncSession, actor: Actor, q: EventQuery, cursor: Cursor | None = None
) -> Page:
    """A page of the actor's events (capture order, or `orderBy`), and where the next begins."""
    ensure(actor, TRACE_READ)
    cursor = cursor or Cursor()
    if q.max_event_count is not None and cursor.after_id is None:
        await _check_count(session, actor, q)
    want = q.per_page
    if q.event_count_limit is not None:
        want = min(want, q.event_count_limit - cursor.returned)
        if want <= 0:
            return Page([], None)
    rows = await _matching(session, actor, q, cursor, want + 1)
    more = len(rows) > want
    rows = rows[:want]
    returned = cursor.returned + len(rows)
    if q.event_count_limit is not None and returned >= q.event_count_limit:
        more = False
    return Page(rows, _cursor_after(q, rows[-1], returned) if more and rows else None)


async def _matching(
    session: AsyncSession, actor: Actor, q: EventQuery, cursor: Cursor, limit: int
) -> list[TraceEvent]:
    """Up to `limit` matching events from `cursor` on, reading CHUNK candidates at a time when
    some parameter is checked on the event's document."""
    query = scoped(actor, q)
    if not checks_document(q):
        return list((await session.scalars(_ordered(query, q, cursor).limit(limit))).all())
    found: list[TraceEvent] = []
    while len(found) < limit:
        chunk = (await session.scalars(_ordered(query, q, cursor).limit(CHUNK))).all()
        for row in chunk:
            if event_matches(json.loads(row.document), q):
                found.append(row)
                if len(found) == limit:
                    break
        if len(chunk) < CHUNK:
            break
        cursor = _cursor_after(q, chunk[-1], 0)
    return found


async def _check_count(session: AsyncSession, actor: Actor, q: EventQuery) -> None:
    """QueryTooLarge when more than `maxEventCount` events match."""
    assert q.max_event_count is not None
    bounded = EventQuery(**{**q.__dict__, "order_by": None, "per_page": q.max_event_count})
    rows = await _matching(session, actor, bounded, Cursor(), q.max_event_count + 1)
    if len(rows) > q.max_event_count:
        raise QueryTooLarge(
            N_("More than {count} events match (maxEventCount): narrow the query."),
            count=q.max_event_count,
        )


def _not_a_declaration_of_another() -> ColumnElement[bool]:
    """An error declaration of a stored event is not an event of its own: queries return the
    event it declares in error, with the declaration (`declarations`)."""
    original = aliased(TraceEvent)
    return or_(
        TraceEvent.is_correction.is_(False),
        ~exists().where(
            original.organisation_id == TraceEvent.organisation_id,
            original.event_id == TraceEvent.event_id,
            original.is_correction.is_(False),
        ),
    )


async def declarations(
    session: AsyncSession, rows: Sequence[TraceEvent]
) -> dict[tuple[int, str], dict[str, Any]]:
    """The errorDeclaration of each of `rows` that was declared in error, by (organisation,
    eventID): one query."""
    wanted = [(r.organisation_id, r.event_id) for r in rows if not r.is_correction]
    if not wanted:
        return {}
    found = await session.execute(
        select(TraceEvent.organisation_id, TraceEvent.event_id, TraceEvent.document).where(
            TraceEvent.is_correction.is_(True),
            TraceEvent.organisation_id.in_({o for o, _e in wanted}),
            TraceEvent.event_id.in_({e for _o, e in wanted}),
        )
    )
    return {
        (organisation_id, event_id): json.loads(document)["errorDeclaration"]
        for organisation_id, event_id, document in found.all()
    }


def _conditions(q: EventQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if q.event_types:
        conditions.append(TraceEvent.event_type.in_(q.event_types))
    for column, bound, upper in (
        (TraceEvent.event_time, q.ge_event_time, False),
        (TraceEvent.event_time, q.lt_event_time, True),
        (TraceEvent.record_time, q.ge_record_time, False),
        (TraceEvent.record_time, q.lt_record_time, True),
    ):
        if bound is not None:
            conditions.append(column < bound if upper else column >= bound)
    if q.actions:
        conditions.append(TraceEvent.action.in_(q.actions))
    if q.biz_steps:
        conditions.append(TraceEvent.biz_step.in_([_cbv_value("bizStep", v) for v in q.biz_steps]))
    if q.dispositions:
        dispositions = [_cbv_value("disposition", v) for v in q.dispositions]
        conditions.append(TraceEvent.disposition.in_(dispositions))
    if q.read_points:
        conditions.append(TraceEvent.read_point.in_(q.read_points))
    if q.biz_locations:
        conditions.append(TraceEvent.biz_location.in_(q.biz_locations))
    if q.wd_read_points:
        conditions.append(
            or_(*(_with_descendants(TraceEvent.read_point, v) for v in q.wd_read_points))
        )
    if q.wd_biz_locations:
        conditions.append(
            or_(*(_with_descendants(TraceEvent.biz_location, v) for v in q.wd_biz_locations))
        )
    if q.persistent_set or q.persistent_unset:
        conditions.append(_mentions("persistentDisposition"))
    if q.transformation_ids:
        conditions.append(_mentions("transformationID"))
    if q.quantity_bounds:
        conditions.append(_mentions("quantity"))
    if q.event_ids:
        conditions.append(TraceEvent.event_id.in_(q.event_ids))
    # EPCs: the EPC rows narrow the events; which field names the EPC is checked on the document.
    for kind, values in (
        (EPC_INSTANCE, q.match_epc),
        (EPC_INSTANCE, q.match_input_epc),
        (EPC_INSTANCE, q.match_output_epc),
        (EPC_CLASS, q.match_epc_class),
        (EPC_CLASS, q.match_input_epc_class),
        (EPC_CLASS, q.match_output_epc_class),
        (EPC_CLASS, q.match_any_epc_class),
    ):
        if values:
            conditions.append(TraceEvent.id.in_(_epc_match(kind, values)))
    if q.match_any_epc:  # parentID has no EPC row
        conditions.append(
            or_(
                TraceEvent.id.in_(_epc_match(EPC_INSTANCE, q.match_any_epc)),
                _mentions("parentID"),
            )
        )
    if q.match_parent_id:
        conditions.append(_mentions("parentID"))
    if q.biz_transactions:
        conditions.append(_mentions("bizTransactionList"))
    if q.sources:
        conditions.append(_mentions("sourceList"))
    if q.destinations:
        conditions.append(_mentions("destinationList"))
    if _asks_sensors(q):
        conditions.append(_mentions("sensorElementList"))
    if asks_error_declarations(q):
        conditions.append(TraceEvent.is_correction.is_(True))
    if q.batch_id is not None:
        conditions.append(
            TraceEvent.id.in_(
                select(TraceEventBatch.event_pk).where(TraceEventBatch.batch_id == q.batch_id)
            )
        )
    return conditions


def asks_error_declarations(q: EventQuery) -> bool:
    """Whether `q` selects by error declaration (then only declarations match)."""
    return bool(
        q.ge_error_declaration_time
        or q.lt_error_declaration_time
        or q.error_reasons
        or q.corrective_event_ids
        or q.error_declaration_fields
        or q.exists_error_declaration_fields
        or "errorDeclaration" in q.exists
    )


def _with_descendants(column: Any, value: str) -> ColumnElement[bool]:
    """WD_readPoint / WD_bizLocation without master data: the location itself and, by the
    identifier's own hierarchy, the sub-locations of a GLN (its extensions), in the SGLN URN
    form (every company prefix length) and the Digital Link form. Any other identifier
    matches itself only."""
    conditions: list[ColumnElement[bool]] = [column == value]
    link = digital_link.normalise(value)
    if link is None or not link.startswith(f"{digital_link.ID_GS1}/414/"):
        return conditions[0]
    gln = link.split("/")[4]
    urns = [f"urn:epc:id:sgln:{gln[:k]}.{gln[k:12]}" for k in range(6, 13)]
    conditions.append(column == link)
    if "/254/" in link:  # a sub-location: itself, in both forms
        conditions += [column == f"{urn}.{link.split('/254/', 1)[1]}" for urn in urns]
        return or_(*conditions)
    conditions.append(column.like(escape_like(f"{link}/254/") + "%", escape="\\"))
    conditions += [column.like(escape_like(f"{urn}.") + "%", escape="\\") for urn in urns]
    return or_(*conditions)


def _asks_sensors(q: EventQuery) -> bool:
    return bool(q.sensor_types or q.sensor_bounds or q.sensor_values or q.sensor_times)


def _mentions(key: str) -> ColumnElement[bool]:
    """The stored document has `key` as a key (canonical JSON: `"key":`); a cheap narrowing,
    the document check decides."""
    return TraceEvent.document.like(f"%{escape_like(json.dumps(key))}:%", escape="\\")


def _cbv_value(name: str, value: str) -> str:
    return vocab.expand(name, value) or value


def _epc_match(kind: str, values: Sequence[str]) -> Any:
    """Event ids naming any of `values`: exact (any notation), or a pattern (idpat, or '*')."""
    matches: list[ColumnElement[bool]] = []
    for value in values:
        like = pattern_like(value)
        if like is not None:
            matches.append(TraceEventEpc.value.like(like, escape="\\"))
        else:
            matches.append(TraceEventEpc.value == canonical_epc(value))
    return select(TraceEventEpc.event_pk).where(TraceEventEpc.kind == kind, or_(*matches))


_IDPAT = re.compile(r"^urn:epc:idpat:(?P<scheme>[a-z]+):(?P<fields>[^:]+)$")


def pattern_like(value: str) -> str | None:
    """The LIKE pattern (escape '\\') the canonical Digital Links matching an EPC pattern fit;
    None for a value that is no pattern. A pure identity pattern (TDS §6: `*` in the trailing
    fields) of a scheme Linli cannot match raises ValueError.

    `urn:epc:idpat:sgtin:4012345.012345.*` matches every serial of that GTIN and, as an EPC
    class pattern, every lot of it; `urn:epc:idpat:sgtin:4012345.*.*` and
    `urn:epc:idpat:sscc:4012345.*` every one of that company prefix (the GTIN's indicator digit
    and the SSCC's extension digit come first in the key, hence the `_`). Another value ending
    in `*` matches canonical identifiers starting with the rest."""
    if value.startswith("urn:epc:id:") and value.endswith("*"):  # an idpat written as an id
        value = "urn:epc:idpat:" + value.removeprefix("urn:epc:id:")
    found = _IDPAT.match(value)
    if found is None:
        return escape_like(value[:-1]) + "%" if value.endswith("*") else None
    return _idpat_like(found["scheme"], found["fields"].split("."), value)


def _idpat_like(scheme: str, parts: list[str], value: str) -> str:
    stars = [p == "*" for p in parts]
    fixed = parts[: stars.index(True)] if True in stars else parts
    if not all(stars[len(fixed) :]) or not fixed or not fixed[0].isdigit():
        raise ValueError(value)
    company = fixed[0]
    base = digital_link.ID_GS1
    if scheme == "sgtin" and len(parts) == 3:
        if len(fixed) == 1:
            return escape_like(f"{base}/01/") + "_" + escape_like(company) + "%"
        gtin = digital_link.normalise(f"urn:epc:idpat:sgtin:{fixed[0]}.{fixed[1]}.*")
        if len(fixed) == 2 and gtin:
            return escape_like(gtin) + "%"
    elif scheme == "sscc" and len(parts) == 2 and len(fixed) == 1:
        return escape_like(f"{base}/00/") + "_" + escape_like(company) + "%"
    elif scheme in _KEY_AI and len(parts) == _KEY_AI[scheme][1]:
        ai = _KEY_AI[scheme][0]
        if len(fixed) == 1:
            prefix = "0" if scheme == "grai" else ""
            return escape_like(f"{base}/{ai}/{prefix}{company}") + "%"
        if len(fixed) == 2 and len(parts) == 3:
            # the key with a one-digit serial, less that digit: GLN, GRAI, GDTI are fixed length
            sample = digital_link.normalise(f"urn:epc:id:{scheme}:{fixed[0]}.{fixed[1]}.1")
            key = sample.removesuffix("/254/1").removesuffix("1") if sample else None
            if key:
                return escape_like(key) + "%"
    raise ValueError(value)


_KEY_AI = {  # scheme: (Digital Link key AI, fields in its EPC URN)
    "sgln": ("414", 3),
    "grai": ("8003", 3),
    "gdti": ("253", 3),
    "giai": ("8004", 2),
    "gsrn": ("8018", 2),
}


@functools.lru_cache(maxsize=1024)
def _like_regex(like: str) -> re.Pattern[str]:
    """The regular expression of a LIKE pattern (escape '\\')."""
    out, escaped = [], False
    for char in like:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def epc_matches(value: str, patterns: Sequence[str]) -> bool:
    """An EPC (or EPC class) as given in an event matches one of `patterns`, in any notation,
    as the EPC rows are matched in SQL."""
    canonical = canonical_epc(value)
    for pattern in patterns:
        like = pattern_like(pattern)
        if like is not None:
            if _like_regex(like).fullmatch(canonical):
                return True
        elif canonical == canonical_epc(pattern):
            return True
    return False


def checks_document(q: EventQuery) -> bool:
    """Whether some parameter of `q` is decided on the event's document (`event_matches`)."""
    return bool(
        q.match_epc
        or q.match_parent_id
        or q.match_input_epc
        or q.match_output_epc
        or q.match_any_epc
        or q.match_epc_class
        or q.match_input_epc_class
        or q.match_output_epc_class
        or q.biz_transactions
        or q.sources
        or q.destinations
        or q.exists
        or asks_error_declarations(q)
        or _asks_sensors(q)
        or q.persistent_set
        or q.persistent_unset
        or q.transformation_ids
        or q.quantity_bounds
    )


def event_matches(event: dict[str, Any], q: EventQuery) -> bool:
    """The parameters of `q` that are decided on the event's document (the SQL conditions
    decide the rest)."""
    return (
        _epcs_match(event, q)
        and all(
            _typed_match(event, "bizTransactionList", "bizTransaction", "bizTransactionType", t)
            for t in q.biz_transactions
        )
        and all(_typed_match(event, "sourceList", "source", "sourceDestType", t) for t in q.sources)
        and all(
            _typed_match(event, "destinationList", "destination", "sourceDestType", t)
            for t in q.destinations
        )
        and all(_present(_field(event, name)) for name in q.exists)
        and _error_declaration_matches(event, q)
        and _sensor_matches(event, q)
        and _persistent_matches(event, q)
        and (not q.transformation_ids or event.get("transformationID") in q.transformation_ids)
        and _quantity_matches(event, q.quantity_bounds)
    )


def _persistent_matches(event: dict[str, Any], q: EventQuery) -> bool:
    """EQ_persistentDisposition_set / _unset: the event's persistentDisposition sets (unsets)
    one of the values (CBV dispositions in any form)."""
    persistent = event.get("persistentDisposition")
    for wanted, key in ((q.persistent_set, "set"), (q.persistent_unset, "unset")):
        if not wanted:
            continue
        given = _strings(persistent.get(key)) if isinstance(persistent, dict) else []
        terms = {_cbv_value("disposition", v) for v in wanted}
        if not any(_cbv_value("disposition", g) in terms for g in given):
            return False
    return True


def _quantity_matches(event: dict[str, Any], bounds: Sequence[Bound]) -> bool:
    """GT_quantity and the like: some quantity element (of any quantity list) meets them all."""
    if not bounds:
        return True
    for name in QUANTITY_LISTS:
        for element in event.get(name) or []:
            value = element.get("quantity") if isinstance(element, dict) else None
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if all(_COMPARE[b.op](value, b.bound) for b in bounds):
                return True
    return False


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _classes(event: dict[str, Any], *names: str) -> list[str]:
    return [
        element["epcClass"]
        for name in names
        for element in event.get(name) or []
        if isinstance(element, dict) and isinstance(element.get("epcClass"), str)
    ]


def _epcs_match(event: dict[str, Any], q: EventQuery) -> bool:
    role_checks: tuple[tuple[Sequence[str], list[str]], ...] = (
        (q.match_epc, _strings(event.get("epcList")) + _strings(event.get("childEPCs"))),
        (q.match_parent_id, _strings(event.get("parentID"))),
        (q.match_input_epc, _strings(event.get("inputEPCList"))),
        (q.match_output_epc, _strings(event.get("outputEPCList"))),
        (
            q.match_any_epc,
            [
                epc
                for name in ("epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID")
                for epc in _strings(event.get(name))
            ],
        ),
        (q.match_epc_class, _classes(event, "quantityList", "childQuantityList")),
        (q.match_input_epc_class, _classes(event, "inputQuantityList")),
        (q.match_output_epc_class, _classes(event, "outputQuantityList")),
    )
    return all(
        any(epc_matches(value, patterns) for value in values)
        for patterns, values in role_checks
        if patterns
    )


def _typed_match(
    event: dict[str, Any], list_name: str, value_name: str, vocabulary: str, wanted: TypedValues
) -> bool:
    kind = _cbv_value(vocabulary, wanted.kind)
    for element in event.get(list_name) or []:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            continue
        if (
            _cbv_value(vocabulary, element["type"]) == kind
            and element.get(value_name) in wanted.values
        ):
            return True
    return False


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {} and value != ""


def _field(container: dict[str, Any], name: str, context: Any = None) -> Any:
    """The field `name` of an event (or of its errorDeclaration): as written (`example:temp`),
    or, for a full URI (`https://ns.example.com/epcis/temp`, or `...#temp`), any key whose
    prefix the event's @context maps to that namespace."""
    if name in container:
        return container[name]
    prefixes = _prefixes(context if context is not None else container.get("@context"))
    for key, value in container.items():
        prefix, colon, local = key.partition(":")
        if colon and prefix in prefixes:
            namespace = prefixes[prefix]
            if name in (namespace + local, namespace.rstrip("#/") + "#" + local):
                return value
    return None


def _prefixes(context: Any) -> dict[str, str]:
    parts = context if isinstance(context, list) else [context]
    return {
        k: v
        for part in parts
        if isinstance(part, dict)
        for k, v in part.items()
        if isinstance(v, str)
    }


def _error_declaration_matches(event: dict[str, Any], q: EventQuery) -> bool:
    declaration = event.get("errorDeclaration")
    if not (
        q.ge_error_declaration_time
        or q.lt_error_declaration_time
        or q.error_reasons
        or q.corrective_event_ids
        or q.error_declaration_fields
        or q.exists_error_declaration_fields
    ):
        return True
    if not isinstance(declaration, dict):
        return False
    moment = parse_time(str(declaration.get("declarationTime", "")))
    if q.ge_error_declaration_time and (moment is None or moment < q.ge_error_declaration_time):
        return False
    if q.lt_error_declaration_time and (moment is None or moment >= q.lt_error_declaration_time):
        return False
    if q.error_reasons:
        reason = declaration.get("reason")
        reasons = {_cbv_value("errorReason", r) for r in q.error_reasons}
        if not isinstance(reason, str) or _cbv_value("errorReason", reason) not in reasons:
            return False
    if q.corrective_event_ids and not set(_strings(declaration.get("correctiveEventIDs"))) & set(
        q.corrective_event_ids
    ):
        return False
    context = event.get("@context")
    for name in q.exists_error_declaration_fields:
        if not _present(_field(declaration, name, context)):
            return False
    for wanted in q.error_declaration_fields:
        value = _field(declaration, wanted.kind, context)
        if not isinstance(value, str | int | float) or str(value) not in wanted.values:
            return False
    return True


def _sensor_matches(event: dict[str, Any], q: EventQuery) -> bool:
    """Some sensor report of the event meets every sensor parameter (EQ_type, the bounds, the
    EQ_ fields and the times; a field the report lacks is read from its element's
    sensorMetadata)."""
    if not _asks_sensors(q):
        return True
    types = {_cbv_value("sensorType", t) for t in q.sensor_types}
    for element in event.get("sensorElementList") or []:
        if not isinstance(element, dict):
            continue
        metadata = element.get("sensorMetadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        for report in element.get("sensorReport") or []:
            if (
                isinstance(report, dict)
                and _report_matches(report, types, q.sensor_bounds)
                and _report_fields_match({**metadata, **report}, q)
            ):
                return True
    return False


def _report_fields_match(fields: dict[str, Any], q: EventQuery) -> bool:
    for wanted in q.sensor_values:
        value = fields.get(wanted.kind)
        if wanted.kind == "booleanValue":
            if not isinstance(value, bool) or ("true" if value else "false") not in wanted.values:
                return False
        elif wanted.kind == "hexBinaryValue":
            if not isinstance(value, str) or value.upper() not in {
                v.upper() for v in wanted.values
            }:
                return False
        elif not isinstance(value, str) or value not in wanted.values:
            return False
    for wanted_time in q.sensor_times:
        moment = parse_time(str(fields.get(wanted_time.field, "")))
        if moment is None:
            return False
        if wanted_time.op == "GE" and moment < wanted_time.moment:
            return False
        if wanted_time.op == "LT" and moment >= wanted_time.moment:
            return False
    return True


def _report_matches(report: dict[str, Any], types: set[str], bounds: Sequence[SensorBound]) -> bool:
    kind = report.get("type")
    if types and not (isinstance(kind, str) and _cbv_value("sensorType", kind) in types):
        return False
    for bound in bounds:
        value = report.get(bound.field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if bound.uom is not None and report.get("uom") != bound.uom:
            return False
        if not _COMPARE[bound.op](value, bound.bound):
            return False
    return True


_COMPARE = {
    "EQ": operator.eq,
    "GT": operator.gt,
    "GE": operator.ge,
    "LT": operator.lt,
    "LE": operator.le,
}


async def access_event(session: AsyncSession, actor: Actor, event_id: str) -> TraceEvent:
    ensure(actor, TRACE_READ)
    row = await session.scalar(
        select(TraceEvent)
        .where(own_rows(actor, TraceEvent), TraceEvent.event_id == event_id)
        .order_by(TraceEvent.is_correction)  # the event, not its error declaration
        .limit(1)
    )
    if row is None:
        raise NotFound(N_("No such event."))
    return row


def export_event(row: TraceEvent, declaration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored event as EPCIS 2.0 JSON, with its eventID and recordTime, and the
    errorDeclaration that declared it in error, if one did."""
    event: dict[str, Any] = json.loads(row.document)
    event.setdefault("eventID", row.event_id)
    if declaration is not None:
        event["errorDeclaration"] = declaration
    event["recordTime"] = row.record_time.isoformat().replace("+00:00", "Z")
    return event


def query_document(
    rows: Sequence[TraceEvent], declared: dict[tuple[int, str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The rows as an EPCISQueryDocument; `declared`: `declarations(session, rows)`."""
    declared = declared or {}
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": clock.now().isoformat().replace("+00:00", "Z"),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {
                    "eventList": [
                        export_event(r, declared.get((r.organisation_id, r.event_id))) for r in rows
                    ]
                },
            }
        },
    }


async def captured_matching(
    session: AsyncSession, organisation_id: int, capture_id: int, q: EventQuery
) -> list[TraceEvent]:
    """The events one capture job of the organisation stored that `q` matches, in capture
    order (at most the 1,000 events of one document): what a subscription delivers."""
    query = select(TraceEvent).where(
        TraceEvent.organisation_id == organisation_id, TraceEvent.capture_id == capture_id
    )
    for condition in _conditions(q):
        query = query.where(condition)
    rows = (await session.scalars(query.order_by(TraceEvent.id))).all()
    if not checks_document(q):
        return list(rows)
    return [row for row in rows if event_matches(json.loads(row.document), q)]


async def recorded_matching(
    session: AsyncSession, organisation_id: int, since: datetime, until: datetime, q: EventQuery
) -> list[TraceEvent]:
    """The events of the organisation recorded in [since, until) that `q` matches, in record
    order: what a scheduled subscription's run delivers."""
    query = select(TraceEvent).where(
        TraceEvent.organisation_id == organisation_id,
        TraceEvent.record_time >= since,
        TraceEvent.record_time < until,
    )
    for condition in _conditions(q):
        query = query.where(condition)
    rows = (await session.scalars(query.order_by(TraceEvent.id))).all()
    if not checks_document(q):
        return list(rows)
    return [row for row in rows if event_matches(json.loads(row.document), q)]

"""The EPCIS 2.0 query parameters (SimpleEventQuery, GS1 EPCIS 2.0 §8.2.7.1) of the REST
binding, read into an `EventQuery`. Pure: a list of (name, value) pairs in, an `EventQuery` or a
400 (`query_parameter`, the standard's QueryParameterException) out. The events endpoint and
named queries read their parameters here, so a named query is valid exactly when the same
parameters would be valid on `/epcis/events`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from linli.errors import BadRequest
from linli.i18n import N_, Message
from linli.trace.capture_checks import parse_time
from linli.trace.models import EVENT_TYPES
from linli.trace.queries import (
    SENSOR_FIELDS,
    SENSOR_TEXT_FIELDS,
    SENSOR_TIME_FIELDS,
    Bound,
    EventQuery,
    SensorBound,
    SensorTime,
    TypedValues,
    pattern_like,
)

# Paging parameters: read by the endpoint itself, never stored in a named query.
PAGING = ("perPage", "nextPageToken")
MAX_VALUES = 20  # values of one parameter (after splitting at '|')
MAX_PARAMETERS = 60
MAX_VALUE_LENGTH = 300
ORDER_FIELDS = ("eventTime", "recordTime")
ACTIONS = ("ADD", "OBSERVE", "DELETE")

_LISTS = {
    "eventType": "event_types",
    "EQ_action": "actions",
    "EQ_bizStep": "biz_steps",
    "EQ_disposition": "dispositions",
    "EQ_readPoint": "read_points",
    "EQ_bizLocation": "biz_locations",
    "WD_readPoint": "wd_read_points",
    "WD_bizLocation": "wd_biz_locations",
    "EQ_persistentDisposition_set": "persistent_set",
    "EQ_persistentDisposition_unset": "persistent_unset",
    "EQ_transformationID": "transformation_ids",
    "EQ_eventID": "event_ids",
    "MATCH_epc": "match_epc",
    "MATCH_parentID": "match_parent_id",
    "MATCH_inputEPC": "match_input_epc",
    "MATCH_outputEPC": "match_output_epc",
    "MATCH_anyEPC": "match_any_epc",
    "MATCH_epcClass": "match_epc_class",
    "MATCH_inputEPCClass": "match_input_epc_class",
    "MATCH_outputEPCClass": "match_output_epc_class",
    "MATCH_anyEPCClass": "match_any_epc_class",
    "EQ_errorReason": "error_reasons",
    "EQ_correctiveEventID": "corrective_event_ids",
    "EQ_type": "sensor_types",
}
_TIMES = {
    "GE_eventTime": "ge_event_time",
    "LT_eventTime": "lt_event_time",
    "GE_recordTime": "ge_record_time",
    "LT_recordTime": "lt_record_time",
    "GE_errorDeclarationTime": "ge_error_declaration_time",
    "LT_errorDeclarationTime": "lt_error_declaration_time",
}
_TYPED = {
    "EQ_bizTransaction_": "biz_transactions",
    "EQ_source_": "sources",
    "EQ_destination_": "destinations",
}
_SENSOR = re.compile(
    r"^(?P<op>EQ|GT|GE|LT|LE)_(?P<field>"
    + "|".join(SENSOR_FIELDS)
    + r")(?:_(?P<uom>[A-Za-z0-9]{1,3}))?$"
)
_SENSOR_TEXT = {f"EQ_{name}": name for name in SENSOR_TEXT_FIELDS}
_SENSOR_TIME = re.compile(r"^(?P<op>GE|LT)_(?P<field>" + "|".join(SENSOR_TIME_FIELDS) + r")$")
_QUANTITY = re.compile(r"^(?P<op>EQ|GT|GE|LT|LE)_quantity$")
_FIELD_NAME = re.compile(r"^[^\s|]{1,200}$")


def refuse(name: str, reason: str, **params: str) -> BadRequest:
    """The standard's QueryParameterException: 400 naming the parameter and why."""
    return BadRequest(
        N_("The query parameter {name} is not valid."),
        code="query_parameter",
        fields={name: Message(reason, dict(params))},
        name=name,
    )


def _values(name: str, raw: Sequence[str]) -> list[str]:
    values = [v for value in raw for v in value.split("|") if v]
    if not values:
        raise refuse(name, N_("Give at least one value."))
    if len(values) > MAX_VALUES:
        raise refuse(name, N_("At most 20 values."))
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise refuse(name, N_("A value is longer than 300 characters."))
    return values


def _one(name: str, raw: Sequence[str]) -> str:
    if len(raw) != 1 or not raw[0]:
        raise refuse(name, N_("Give exactly one value."))
    return raw[0]


def _time(name: str, raw: Sequence[str]) -> datetime:
    moment = parse_time(_one(name, raw))
    if moment is None:
        raise refuse(
            name, N_("Use an RFC 3339 date-time with a time zone, e.g. 2024-05-01T08:00:00+08:00.")
        )
    return moment


def _count(name: str, raw: Sequence[str]) -> int:
    value = _one(name, raw)
    if not value.isdigit() or len(value) > 9 or int(value) < 1:
        raise refuse(name, N_("Use a whole number of at least 1."))
    return int(value)


def _number(name: str, raw: Sequence[str]) -> float:
    try:
        number = float(_one(name, raw))
    except ValueError:
        raise refuse(name, N_("Use a number.")) from None
    if not math.isfinite(number):
        raise refuse(name, N_("Use a number."))
    return number


def _patterns(name: str, values: Sequence[str]) -> None:
    for value in values:
        try:
            pattern_like(value)
        except ValueError:
            raise refuse(
                name, N_("Not an EPC pattern Linli can match: {value}."), value=value
            ) from None


def _field(name: str, field: str) -> str:
    if not _FIELD_NAME.match(field):
        raise refuse(name, N_("Name a field after the prefix."))
    return field


def grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Values by parameter name, in the order given."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def parse(pairs: Iterable[tuple[str, str]]) -> EventQuery:
    """An `EventQuery` of the query parameters (paging parameters left out); 400 naming the
    first unknown or malformed parameter."""
    params = {k: v for k, v in grouped(pairs).items() if k not in PAGING}
    if len(params) > MAX_PARAMETERS:
        raise refuse("query", N_("At most 60 parameters."))
    fields: dict[str, Any] = {}
    typed: dict[str, list[TypedValues]] = {attr: [] for attr in _TYPED.values()}
    exists: list[str] = []
    error_fields: list[TypedValues] = []
    exists_error_fields: list[str] = []
    bounds: list[SensorBound] = []
    sensor_values: list[TypedValues] = []
    sensor_times: list[SensorTime] = []
    quantity_bounds: list[Bound] = []
    for name, raw in params.items():
        if name in _LISTS:
            fields[_LISTS[name]] = tuple(_values(name, raw))
            if name.startswith("MATCH_"):
                _patterns(name, fields[_LISTS[name]])
        elif name in _TIMES:
            fields[_TIMES[name]] = _time(name, raw)
        elif name in ("eventCountLimit", "maxEventCount"):
            fields["event_count_limit" if name == "eventCountLimit" else "max_event_count"] = (
                _count(name, raw)
            )
        elif name == "orderBy":
            order = _one(name, raw)
            if order not in ORDER_FIELDS:
                raise refuse(name, N_("Order by eventTime or recordTime."))
            fields["order_by"] = order
        elif name == "orderDirection":
            direction = _one(name, raw)
            if direction not in ("ASC", "DESC"):
                raise refuse(name, N_("Use ASC or DESC."))
            fields["order_desc"] = direction == "DESC"
        elif name.startswith("EQ_ERROR_DECLARATION_"):
            field = _field(name, name.removeprefix("EQ_ERROR_DECLARATION_"))
            error_fields.append(TypedValues(field, tuple(_values(name, raw))))
        elif name.startswith("EXISTS_ERROR_DECLARATION_"):
            exists_error_fields.append(_field(name, name.removeprefix("EXISTS_ERROR_DECLARATION_")))
        elif name.startswith("EXISTS_"):
            exists.append(_field(name, name.removeprefix("EXISTS_")))
        elif prefix := next((p for p in _TYPED if name.startswith(p)), None):
            kind = _field(name, name.removeprefix(prefix))
            typed[_TYPED[prefix]].append(TypedValues(kind, tuple(_values(name, raw))))
        elif found := _SENSOR.match(name):
            bounds.append(
                SensorBound(found["field"], found["op"], found["uom"], _number(name, raw))
            )
        elif name in _SENSOR_TEXT:
            values = tuple(_values(name, raw))
            if name == "EQ_booleanValue" and not set(values) <= {"true", "false"}:
                raise refuse(name, N_("Use true or false."))
            sensor_values.append(TypedValues(_SENSOR_TEXT[name], values))
        elif found := _SENSOR_TIME.match(name):
            sensor_times.append(SensorTime(found["field"], found["op"], _time(name, raw)))
        elif found := _QUANTITY.match(name):
            quantity_bounds.append(Bound(found["op"], _number(name, raw)))
        else:
            raise refuse(name, N_("Not a query parameter Linli supports."))
    unknown = [t for t in fields.get("event_types", ()) if t not in EVENT_TYPES]
    if unknown:
        raise refuse("eventType", N_("Unknown event type: {types}."), types=", ".join(unknown))
    unknown = [a for a in fields.get("actions", ()) if a not in ACTIONS]
    if unknown:
        raise refuse("EQ_action", N_("Use ADD, OBSERVE or DELETE."))
    if "event_count_limit" in fields and "max_event_count" in fields:
        raise refuse("eventCountLimit", N_("Give eventCountLimit or maxEventCount, not both."))
    if "order_desc" in fields and "order_by" not in fields:
        raise refuse("orderDirection", N_("Give orderBy with orderDirection."))
    return EventQuery(
        **fields,
        biz_transactions=tuple(typed["biz_transactions"]),
        sources=tuple(typed["sources"]),
        destinations=tuple(typed["destinations"]),
        exists=tuple(exists),
        error_declaration_fields=tuple(error_fields),
        exists_error_declaration_fields=tuple(exists_error_fields),
        sensor_bounds=tuple(bounds),
        sensor_values=tuple(sensor_values),
        sensor_times=tuple(sensor_times),
        quantity_bounds=tuple(quantity_bounds),
    )

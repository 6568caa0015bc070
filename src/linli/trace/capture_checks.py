"""Checking an EPCIS 2.0 capture document: official JSON Schema, CBV vocabularies, times.

Everything here is pure (no database): `check_document` returns the events ready to store or
raises `CaptureRefused` naming the first failing field (`epcisBody.eventList[0].eventTime`).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from linli import clock
from linli.trace import vocab
from linli.trace.models import EVENT_TYPES

MAX_EVENTS = 1000  # per capture document (the 1 MiB body limit comes first in practice)
MAX_DEPTH = 32  # nesting of a document (EPCIS needs about 8; extensions get the rest)
MAX_SCHEMA_ERRORS = 20  # schema errors looked at before the most specific is reported
MAX_WARNINGS = 100  # kept on a capture job; the last says how many more there were
# Draft-07 makes format assertion optional. We assert date-time (bad timestamps must be
# refused) but not uri: the schema uses format "uri" on property *names* to admit extensions,
# and GS1's own examples carry names ("id", "type") that a strict URI check would refuse.
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or parse_time(value) is not None


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 date-time with a time zone; None for anything else."""
    if "T" not in text.upper() or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class Problem:
    field: str  # e.g. epcisBody.eventList[0].eventTime
    reason: str
    event_index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "reason": self.reason, "eventIndex": self.event_index}


class CaptureRefused(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.field}: {problem.reason}")
        self.problem = problem


class TooManyEvents(CaptureRefused):
    """More events than the capture limit (GS1-EPCIS-Capture-Limit): 413, as the binding says."""


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        vocab.schema_file("EPCIS-JSON-Schema.json").read_text("utf-8")
    )
    return schema


@cache
def validator() -> Draft7Validator:
    """The reference validator: slow (about 0.7 ms per event), but its errors are the ones
    capture reports. Run only on documents the compiled validator refused."""
    return Draft7Validator(_schema(), format_checker=_FORMATS)


@cache
def fast_validator() -> jsonschema_rs.Draft7Validator:
    """The compiled validator (Rust, about 5 us per event): the same draft and the same
    asserted formats as `validator()` (date-time by our own check; uri and every other format
    not asserted). tests/trace/test_capture_validation.py proves the two accept the same
    documents over GS1's examples and thousands of mutations of them."""
    return jsonschema_rs.Draft7Validator(_schema(), validate_formats=True, formats=_FAST_FORMATS)


def _any_text(_value: str) -> bool:
    return True


# jsonschema_rs asserts the formats it knows under draft-07; name each format the schema uses,
# with the same meaning as _FORMATS: date-time by parse_time, uri not asserted.
_FAST_FORMATS = {"date-time": lambda value: parse_time(value) is not None, "uri": _any_text}


def check_document(
    document: Any, warnings: list[Problem] | None = None, *, from_xml: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the events as captured, the same events normalised for storage); or CaptureRefused.
    What is accepted but deserves the capturer's attention (user vocabulary) is appended to
    `warnings`, at most MAX_WARNINGS of them. `from_xml`: converted from XML (epcis_xml.py),
    whose XSD already requires extension elements to be namespaced, and allows unqualified
    elements inside them, which are kept by their local names."""
    if not isinstance(document, dict):
        raise CaptureRefused(Problem("$", "an EPCIS document must be a JSON object"))
    if "@context" not in document:
        raise CaptureRefused(Problem("@context", "is missing (EPCIS 2.0 JSON-LD needs it)"))
    if document.get("type") != "EPCISDocument":
        raise CaptureRefused(Problem("type", "must be EPCISDocument"))
    # The cheap limits first, so an oversized document costs no schema validation.
    body = document.get("epcisBody")
    listed = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(listed, list) and len(listed) > MAX_EVENTS:
        raise TooManyEvents(Problem("epcisBody.eventList", f"at most {MAX_EVENTS} events"))
    _check_depth_and_text(document)
    normalised = normalise_document(document)
    # first: "unknown CBV value" says more than the schema
    _check_vocabularies(normalised, [] if warnings is None else warnings)
    _check_schema(normalised, from_xml=from_xml)
    _check_namespaces(normalised, nested=not from_xml)
    captured = list(document["epcisBody"]["eventList"])
    events = list(normalised["epcisBody"]["eventList"])
    for index, event in enumerate(events):
        _check_event(index, event)
    return captured, events


@dataclass(frozen=True)
class Checked:
    """What `check_events` kept: the events as captured and normalised, the position of each
    in the document's eventList, and the problems of the events it left out."""

    captured: list[dict[str, Any]]
    events: list[dict[str, Any]]
    positions: list[int]
    errors: list[Problem]


def check_events(
    document: Any, warnings: list[Problem] | None = None, *, from_xml: bool = False
) -> Checked:
    """`captureErrorBehaviour: proceed`: like `check_document`, but an event that fails a check
    is left out and its problem listed, instead of the whole document being refused. A problem
    of the document itself (not JSON-LD, no @context, too many events) still refuses it
    (CaptureRefused). A document that passes whole costs one check; one that does not is then
    checked one event at a time (each as a document of its own with the same header)."""
    whole: list[Problem] = []
    try:
        captured, events = check_document(document, whole, from_xml=from_xml)
    except CaptureRefused as refused:
        if refused.problem.event_index is None:
            raise
    else:
        if warnings is not None:
            for warning in whole:
                add_warning(warnings, warning)
        return Checked(captured, events, list(range(len(events))), [])
    body = document["epcisBody"]
    checked = Checked([], [], [], [])
    for index, item in enumerate(body["eventList"]):
        single = {**document, "epcisBody": {**body, "eventList": [item]}}
        mine: list[Problem] = []
        try:
            one_captured, one_event = check_document(single, mine, from_xml=from_xml)
        except CaptureRefused as refused:
            add_warning(checked.errors, renumbered(refused.problem, index), "errors")
            continue
        for warning in mine:
            if warnings is not None:
                add_warning(warnings, renumbered(warning, index))
        checked.captured.append(one_captured[0])
        checked.events.append(one_event[0])
        checked.positions.append(index)
    return checked


def renumbered(problem: Problem, index: int) -> Problem:
    """A problem found in a one-event document, as the problem of event `index` of the whole."""
    field = problem.field
    first = "epcisBody.eventList[0]"
    if field.startswith(first):
        field = f"epcisBody.eventList[{index}]" + field.removeprefix(first)
    return Problem(field, problem.reason, index)


def normalise_document(document: dict[str, Any]) -> dict[str, Any]:
    """Accept the deviations found in GS1's own examples (docs/trace.md, "Leniency"):
    schemaVersion missing or a number, creationDate missing, sourceList/destinationList given
    as one object, ilmd on an ObjectEvent that is not ADD (kept as extension `linli:ilmd`).
    The document given is left as it is: what changes is copied (the document, its body and
    each event one level deep), the rest is shared with it, not deep-copied."""
    document = dict(document)
    version = document.get("schemaVersion", "2.0")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    document["schemaVersion"] = version
    document.setdefault("creationDate", clock.now().isoformat())
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(events, list):
        events = [dict(e) if isinstance(e, dict) else e for e in events]
        for event in events:
            if isinstance(event, dict):
                normalise_event(event)
        document["epcisBody"] = {**body, "eventList": events}
    return document


def normalise_event(event: dict[str, Any]) -> None:
    for name in ("sourceList", "destinationList"):
        if isinstance(event.get(name), dict):
            event[name] = [event[name]]
    if event.get("type") == "ObjectEvent" and event.get("action") != "ADD" and "ilmd" in event:
        event["linli:ilmd"] = event.pop("ilmd")


_OFFSET = re.compile(r"[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00)")
# C0 controls but tab and newlines, and lone surrogates (not encodable as UTF-8).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _check_depth_and_text(document: dict[str, Any]) -> None:
    """_check_depth, then _check_text, in one walk over the document: its strings (keys and
    values) are searched by one regex at once, joined by a newline (allowed text). Only a
    document that fails either is walked again, by the checks that name the field."""
    strings: list[str] = []
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            _check_depth(document)  # raises, naming the path as it always has
        if isinstance(value, dict):
            strings.extend(value)  # keys; JSON objects have only string keys
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            strings.append(value)
    if _has_control("\n".join(s for s in strings if isinstance(s, str))):
        _check_text(document, [])


def _check_text(value: Any, path: list[Any]) -> None:
    """NUL and other C0 controls are never valid text here (PostgreSQL cannot store NUL)."""
    if isinstance(value, str) and _has_control(value):
        raise CaptureRefused(
            Problem(
                _path(path),
                "control characters and lone surrogates are not allowed",
                _event_index(path),
            )
        )
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and _has_control(key):
            raise CaptureRefused(
                Problem(
                    _path(path),
                    "control characters and lone surrogates are not allowed",
                    _event_index(path),
                )
            )
        _check_text(item, [*path, key])


def _check_depth(document: dict[str, Any]) -> None:
    """No value nested deeper than MAX_DEPTH (checked without recursion)."""
    stack: list[tuple[Any, list[Any]]] = [(document, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise CaptureRefused(
                Problem(_path(path[:MAX_DEPTH]), f"nested deeper than {MAX_DEPTH} levels")
            )
        if isinstance(value, dict):
            stack.extend((item, [*path, key]) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, [*path, n]) for n, item in enumerate(value))


def _check_schema(document: dict[str, Any], *, from_xml: bool = False) -> None:
    if _fast_accepts(document):
        return
    # iter_errors is lazy: validation stops once MAX_SCHEMA_ERRORS errors are found.
    errors = list(itertools.islice(validator().iter_errors(document), MAX_SCHEMA_ERRORS))
    if from_xml:
        errors = [e for e in errors if not _xsd_allows(e)]
    if errors:
        error = _most_specific(errors)
        raise CaptureRefused(
            Problem(_field_of(error), _reason_of(error), _event_index(list(error.absolute_path)))
        )


def _xsd_allows(error: ValidationError) -> bool:
    """The one place where the JSON schema is stricter than the XML schema (and GS1's own XML
    examples rely on the XSD): a sensorReport without `type` (an exception report)."""
    path = list(error.absolute_path)
    return (
        error.validator == "required"
        and error.validator_value == ["type"]
        and len(path) >= 2
        and path[-2] == "sensorReport"
    )


def _fast_accepts(document: dict[str, Any]) -> bool:
    """Whether the compiled validator accepts the document. Anything it cannot take (a number
    too large for it, say) counts as a refusal, which the reference validator then judges."""
    try:
        return bool(fast_validator().is_valid(document))
    except (ValueError, TypeError, OverflowError, RecursionError):
        return False


def _leaves(error: ValidationError) -> list[ValidationError]:
    if not error.context:
        return [error]
    return [leaf for child in error.context for leaf in _leaves(child)]


def _most_specific(errors: list[ValidationError]) -> ValidationError:
    """The deepest leaf error; among equals, one that is not about a type/enum alternative."""
    leaves = [leaf for error in errors for leaf in _leaves(error)]
    weak = ("enum", "const", "not", "anyOf", "oneOf", "propertyNames")

    def rank(leaf: ValidationError) -> tuple[int, int]:
        return (len(list(leaf.absolute_path)), 0 if leaf.validator in weak else 1)

    return max(leaves, key=rank)


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"


def _field_of(error: ValidationError) -> str:
    parts = list(error.absolute_path)
    required = error.validator_value
    if error.validator == "required" and isinstance(error.instance, dict):
        assert isinstance(required, list)
        missing = [p for p in required if p not in error.instance]
        parts += missing[:1]
    return _path(parts)


def _reason_of(error: ValidationError) -> str:
    if error.validator == "required":
        return "is required"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "format":
        return f"is not a valid {error.validator_value}"
    if error.validator == "pattern":
        return f"does not match {error.validator_value}"
    if error.validator == "additionalProperties":
        return "has an unexpected property"
    return str(error.message)[:200]


def _event_index(parts: list[Any]) -> int | None:
    if parts[:2] == ["epcisBody", "eventList"] and len(parts) > 2 and isinstance(parts[2], int):
        return parts[2]
    return None


def _check_vocabularies(document: dict[str, Any], warnings: list[Problem]) -> None:
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    for index, event in enumerate(events if isinstance(events, list) else []):
        if isinstance(event, dict):
            where = f"epcisBody.eventList[{index}]"
            for field, refused, reason in _vocabulary_problems(event, "", where):
                if refused:
                    raise CaptureRefused(Problem(field, reason, index))
                add_warning(warnings, Problem(field, reason, index))


def add_warning(warnings: list[Problem], warning: Problem, what: str = "warnings") -> None:
    """Keep at most MAX_WARNINGS warnings (or errors); the last one then counts those left
    out."""
    if len(warnings) < MAX_WARNINGS - 1:
        warnings.append(warning)
        return
    more = 1
    if len(warnings) == MAX_WARNINGS:
        more += int(warnings.pop().reason.split()[0])
    warnings.append(Problem("epcisBody.eventList", f"{more} more {what}"))


def _check_event(index: int, event: dict[str, Any]) -> None:
    where = f"epcisBody.eventList[{index}]"
    if event.get("type") not in EVENT_TYPES:
        raise CaptureRefused(Problem(f"{where}.type", "unknown event type", index))
    for name in ("eventTime", "recordTime"):
        value = event.get(name)
        if isinstance(value, str) and parse_time(value) is None:
            raise CaptureRefused(Problem(f"{where}.{name}", "is not a valid date-time", index))
    offset = event.get("eventTimeZoneOffset")
    # The schema's pattern ends in `$`, which Python (jsonschema) also matches before a final
    # newline: "+08:00\n" passed it, and did not fit the 6-character column (a 500 on
    # PostgreSQL).
    if isinstance(offset, str) and not _OFFSET.fullmatch(offset):
        raise CaptureRefused(
            Problem(f"{where}.eventTimeZoneOffset", "is not a valid time zone offset", index)
        )


def _vocabulary_problems(value: Any, parent: str, where: str) -> list[tuple[str, bool, str]]:
    """(field, refused, reason) for every CBV-valued field whose value is not a CBV term."""
    found: list[tuple[str, bool, str]] = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            found += _vocabulary_problems(item, parent, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = vocab.FIELD_VOCABULARY.get((parent, key))
            texts = item if isinstance(item, list) else [item]
            for i, text in enumerate(texts):
                judged = vocab.judge(name, text) if name and isinstance(text, str) else None
                if judged:
                    suffix = f"[{i}]" if isinstance(item, list) else ""
                    found.append((f"{where}.{key}{suffix}", judged[0], f"{judged[1]}: {text}"))
            found += _vocabulary_problems(item, key, f"{where}.{key}")
    return found


# User extensions (EPCIS 2.0 section 9.7, JSON binding): every field at a position the
# standard opens to extensions, and every field of ILMD, must be namespaced: a compact IRI
# whose prefix the document's @context (or the EPCIS context) defines, or a full URI.
_URI = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|urn:)\S+")
_COMPACT = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*):\S+")
_LINLI_PREFIXES = frozenset({"linli"})  # our own extensions (`linli:ilmd`)


@cache
def _standard_fields() -> dict[str, frozenset[str]]:
    """The standard field names of each position that admits extensions, from the schema."""
    definitions = _schema()["definitions"]

    def names(schema: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(schema, dict):
            found |= set(schema.get("properties", {}))
            if isinstance(schema.get("enum"), list):
                found |= {n for n in schema["enum"] if isinstance(n, str)}
            for key in ("allOf", "anyOf", "oneOf"):
                for part in schema.get(key, []):
                    found |= names(part)
            found |= names(schema.get("propertyNames"))
            ref = schema.get("$ref", "")
            if ref == "#/definitions/common-event-properties":
                found |= names(definitions["common-event-properties"])
        return found

    # The JSON-LD aliases of the EPCIS context (`id`, `type`: @id, @type) are allowed anywhere
    # but in ILMD; an event's fields are those of any event type (the schema omits some,
    # persistentDisposition on AggregationEvent, that the standard defines for every event).
    aliases = {k for k, v in vocab.context().items() if isinstance(v, str) and v.startswith("@")}
    event = set().union(*(names(definitions[t]) for t in EVENT_TYPES))
    fields = {"event": frozenset(event | aliases | {"linli:ilmd"}), "ilmd": frozenset()}
    for position in (
        "readPoint",
        "bizLocation",
        "sensorElement",
        "sensorMetadata",
        "sensorReport",
        "errorDeclaration",
    ):
        fields[position] = frozenset(names(definitions[position]) | aliases)
    return fields


@cache
def _standard_prefixes() -> frozenset[str]:
    context = vocab.context()
    return frozenset(
        k for k, v in context.items() if isinstance(v, str) and v.endswith(("/", "#", ":"))
    )


def _document_prefixes(document: dict[str, Any]) -> frozenset[str]:
    context = document.get("@context")
    parts = context if isinstance(context, list) else [context]
    declared = {
        key
        for part in parts
        if isinstance(part, dict)
        for key, value in part.items()
        if isinstance(value, str | dict)
    }
    return _standard_prefixes() | _LINLI_PREFIXES | declared


def _check_namespaces(document: dict[str, Any], *, nested: bool = True) -> None:
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    prefixes: frozenset[str] | None = None
    standard = _standard_fields()
    for index, event in enumerate(events if isinstance(events, list) else []):
        if not isinstance(event, dict):
            continue
        where = f"epcisBody.eventList[{index}]"
        positions: list[tuple[str, str, Any]] = [("event", where, event)]
        for name in ("readPoint", "bizLocation", "errorDeclaration", "ilmd", "linli:ilmd"):
            # `linli:ilmd` is the captured `ilmd` (normalise_event): named as it was given
            plain = name.removeprefix("linli:")
            positions.append((plain, f"{where}.{plain}", event.get(name)))
        for i, element in enumerate(event.get("sensorElementList") or []):
            at = f"{where}.sensorElementList[{i}]"
            positions.append(("sensorElement", at, element))
            if isinstance(element, dict):
                positions.append(
                    ("sensorMetadata", f"{at}.sensorMetadata", element.get("sensorMetadata"))
                )
                reports = element.get("sensorReport")
                for r, report in enumerate(reports if isinstance(reports, list) else []):
                    positions.append(("sensorReport", f"{at}.sensorReport[{r}]", report))
        for position, at, value in positions:
            if not isinstance(value, dict):
                continue
            known = standard.get(position, frozenset())
            for key, item in value.items():
                if key in known or key.startswith("@"):
                    continue
                if prefixes is None:
                    prefixes = _document_prefixes(document)
                _check_extension(f"{at}.{key}", key, item if nested else None, prefixes, index)


def _check_extension(
    field: str, key: str, value: Any, prefixes: frozenset[str], index: int
) -> None:
    """An extension field's name, and every field name inside its value, namespaced."""
    stack: list[tuple[str, str, Any]] = [(field, key, value)]
    while stack:
        at, name, item = stack.pop()
        if not name.startswith("@") and not _namespaced(name, prefixes):
            raise CaptureRefused(
                Problem(
                    at,
                    "a user extension field must be namespaced (a prefix defined in "
                    "@context, or a full URI)",
                    index,
                )
            )
        if isinstance(item, dict):
            stack.extend((f"{at}.{k}", k, v) for k, v in item.items())
        elif isinstance(item, list):
            for n, member in enumerate(item):
                if isinstance(member, dict):
                    stack.extend((f"{at}[{n}].{k}", k, v) for k, v in member.items())


def _namespaced(name: str, prefixes: frozenset[str]) -> bool:
    if _URI.fullmatch(name):
        return True
    compact = _COMPACT.fullmatch(name)
    return compact is not None and compact.group(1) in prefixes

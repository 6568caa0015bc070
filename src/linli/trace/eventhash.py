"""The CBV 2.0 event hash: `ni:///sha-256;{hex}?ver=CBV2.0` of an EPCIS event.

The algorithm (CBV 2.0 section 8.9, reference implementation `epcis-event-hash-generator`
1.9.3, which tests/trace/test_eventhash.py compares us against for every standard example):

1. CBV values given as bare words are replaced by their web URIs. As in the reference, this
   happens for every string of the document that is the last segment of exactly one CBV/GS1
   web URI used in it (JSON-LD expansion, then matching by suffix).
2. The JSON event becomes a tree of (name, text, children) in the XML data model: list
   members take the list's name without "List" (`epcList` -> `epc`), quantity elements are
   `quantityElement`, `inputEPCList` members are `epc`, children are sorted.
3. The pre-hash string is `eventType=...` followed by the standard fields in the canonical
   property order (`PROP_ORDER`), each as `name=value` (values canonicalised: times to UTC
   with milliseconds and `Z`, numbers without trailing zeros, EPC URIs and GS1 Digital Links
   to canonical Digital Links, CBV URNs to web URIs), repeated values sorted; then the user
   extensions, sorted. eventID, recordTime, errorDeclaration and comments take no part.
4. SHA-256 of the UTF-8 pre-hash string.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from linli.trace import digital_link, vocab

Node = tuple[str, str, list[Any]]  # (name, text, children: list of Node)
Order = list[tuple[Any, Any]]

_QUANTITY: Order = [("quantityElement", [("epcClass", None), ("quantity", None), ("uom", None)])]
_SENSOR_METADATA = [
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
]
_SENSOR_REPORT = [
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
]
PROP_ORDER: Order = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", [("epc", None)]),
    ("inputEPCList", [("epc", None)]),
    ("childEPCs", [("epc", None)]),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", [("epc", None)]),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    ("bizTransactionList", [(("type", None), ("bizTransaction", None))]),
    ("sourceList", [(("type", None), ("source", None))]),
    ("destinationList", [(("type", None), ("destination", None))]),
    (
        "sensorElementList",
        [
            (
                "sensorElement",
                [
                    ("sensorMetadata", [(name, None) for name in _SENSOR_METADATA]),
                    ("sensorReport", [(name, None) for name in _SENSOR_REPORT]),
                ],
            )
        ],
    ),
]
IGNORED = ("recordTime", "eventID", "type", "errorDeclaration")
UNSORTED_KEYS = ("bizTransaction", "source", "destination")
PAIR_LISTS = ("sourceList", "destinationList", "bizTransactionList")


def hash_id(pre_hash: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(pre_hash.encode('utf-8')).hexdigest()}?ver=CBV2.0"


def document_hash_ids(document: dict[str, Any]) -> list[str]:
    """The hash id of every event of an EPCIS document, in order."""
    return [hash_id(p) for p in document_pre_hashes(document)]


def document_pre_hashes(document: dict[str, Any]) -> list[str]:
    namespaces = context_namespaces(document.get("@context"))
    events = document_events(document)
    expanded = _expanded_cbv_values(events)
    return [pre_hash(event, namespaces, expanded) for event in events]


def event_hash_id(event: dict[str, Any], namespaces: dict[str, str] | None = None) -> str:
    """The hash id of one event on its own (for events we generate ourselves)."""
    return hash_id(pre_hash(event, namespaces or {}, _expanded_cbv_values([event])))


def document_events(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document.get("epcisBody") or {}
    if "eventList" in body:
        return list(body["eventList"])
    if "queryResults" in body:
        return list(body["queryResults"]["resultsBody"]["eventList"])
    return [body["event"]] if "event" in body else []


def context_namespaces(context: Any) -> dict[str, str]:
    """Prefix -> `{namespace}` for the prefixes a document's @context declares."""
    namespaces: dict[str, str] = {}
    for part in context if isinstance(context, list) else []:
        if isinstance(part, str):
            namespaces[part] = "{" + part + "}"
        elif isinstance(part, dict):
            for prefix, iri in part.items():
                if isinstance(iri, str):
                    namespaces[prefix] = "{" + iri + "}"
    return namespaces


def pre_hash(event: dict[str, Any], namespaces: dict[str, str], expanded: set[str]) -> str:
    event = _replace_bare_words(event, expanded)
    tree = _correct_structure(_to_tree(event, dict(namespaces)))
    children = tree[2]
    ordered = _in_order(children, PROP_ORDER)
    rest = [child for child in children if child[0] not in IGNORED]
    return f"eventType={tree[0]}{ordered}{_generic(rest) if rest else ''}"


# --- step 1: bare CBV words -------------------------------------------------------------


def _expanded_cbv_values(events: list[Any]) -> set[str]:
    """The CBV/GS1 web URIs that JSON-LD expansion yields for the vocabulary fields."""
    found: set[str] = set()

    def visit(value: Any, parent: str) -> None:
        # List members inherit the list's key; a dict's fields have it as their parent.
        if isinstance(value, list):
            for item in value:
                visit(item, parent)
        elif isinstance(value, dict):
            for key, item in value.items():
                name = vocab.FIELD_VOCABULARY.get((parent, key))
                for text in item if isinstance(item, list) else [item]:
                    web = vocab.expand(name, text) if name and isinstance(text, str) else None
                    if web:
                        found.add(web)
                visit(item, key)

    for event in events:
        visit(event, "")
    return found


def _replace_bare_words(value: Any, expanded: set[str]) -> Any:
    if isinstance(value, str):
        matches = [e for e in expanded if e.endswith("-" + value) or e.endswith("/" + value)]
        return matches[0] if len(matches) == 1 else value
    if isinstance(value, list):
        return [_replace_bare_words(item, expanded) for item in value]
    if isinstance(value, dict):
        return {key: _replace_bare_words(item, expanded) for key, item in value.items()}
    return value


# --- step 2: the JSON event as a tree in the XML data model ----------------------------------


def _namespaced(text: Any, namespaces: dict[str, str], *, is_value: bool = False) -> Any:
    if not isinstance(text, str):
        return text
    prefix, colon, rest = text.partition(":")
    if colon and prefix in namespaces:
        namespace = namespaces[prefix]
        return (namespace.strip("{}") if is_value else namespace) + rest
    return text


def _to_tree(value: Any, namespaces: dict[str, str]) -> Node:
    node: Node = ("", "", [])
    if isinstance(value, list):
        node[2].extend(_to_tree(item, namespaces) for item in value)
    elif isinstance(value, dict):
        node = _dict_to_tree(value, namespaces)
    else:
        return ("", _scalar_text(_namespaced(value, namespaces, is_value=True)), [])
    if not any(key in value for key in UNSORTED_KEYS):
        node[2].sort()
    return node


def _scalar_text(value: Any) -> str:
    # As Python's str(): the reference writes JSON true as "True" and 26.0 as "26.0".
    return str(value)


def _dict_to_tree(value: dict[str, Any], namespaces: dict[str, str]) -> Node:
    name = value["type"] if isinstance(value.get("type"), str) else ""
    text = str(value["#text"]) if "#text" in value else ""
    children: list[Any] = []
    for key, item in value.items():
        if key in ("#text", "rdfs:comment", "comment"):
            continue
        if key.startswith("@xmlns"):
            namespaces[key[7:]] = "{" + str(item) + "}"
            name = _namespaced(name, namespaces)
            continue
        child = _to_tree(item, namespaces)
        key = _namespaced(key, namespaces)
        if isinstance(item, list):
            children.extend((key, element[1], element[2]) for element in child[2])
        else:
            children.append((key, child[1], child[2]))
    return (name, text, children)


def _correct_structure(node: Node) -> Node:
    """JSON -> XML data model: name list members, group childEPCs, rename quantities."""
    children = list(node[2]) if len(node) > 2 else []
    lists: dict[str, list[Node]] = {}
    for element in [e for e in children if isinstance(e[0], str) and e[0].endswith("List")]:
        lists.setdefault(element[0], []).append((element[0][:-4], element[1], element[2]))
        children.remove(element)
    for list_name, members in lists.items():
        if list_name in PAIR_LISTS:
            # (type, value) in the order given; a member without a type is a 1-tuple
            children.append((list_name, "", [tuple(m[2]) for m in members]))
        else:
            children.append((list_name, "", members))
    child_epcs: list[Node] = [("epc", e[1], []) for e in children if e[0] == "childEPCs"]
    children = [e for e in children if e[0] != "childEPCs"]
    if child_epcs:
        children.append(("childEPCs", "", child_epcs))
    corrected = [e if e[0] in PAIR_LISTS else _correct_structure(e) for e in children]
    return _rename((node[0], node[1], corrected))


def _rename(node: Node) -> Node:
    name = node[0]
    if name in ("inputEPC", "outputEPC"):
        return ("epc", node[1], node[2])
    if name in ("inputQuantity", "outputQuantity", "childQuantity") or (
        name == "quantity" and len(node[2]) > 0
    ):
        return ("quantityElement", node[1], node[2])
    return node


# --- step 3: the pre-hash string --------------------------------------------------------------


def _in_order(children: list[Any], order: Order) -> str:
    """Standard fields in canonical order; consumes them from `children` (what remains are
    extensions)."""
    pre = ""
    extensions = _take_extensions(children)
    present = {c[0] for c in children if isinstance(c[0], str)}
    for name, sub_order in order:
        if name not in present:  # most standard fields are absent from an event
            continue
        values = []
        for child in [c for c in children if c[0] == name]:
            text = _child_text(child, sub_order)
            if text:
                values.append(text)
            if len(child[2]) == 0:
                children.remove(child)
        values.sort()
        if "".join(values):
            pre = "".join([pre, *values]) if pre else "".join(values)
    if extensions:
        pre = pre + _generic(extensions)
    return pre


def _child_text(child: Any, sub_order: Order | None) -> str:
    nested = _in_order(child[2], sub_order) if sub_order else ""
    text = ""
    if child[1]:
        text = child[1].strip()
        lower = child[0].lower()
        text = _timestamp(text) if "time" in lower and "offset" not in lower else _canonical(text)
        if text:
            text = "=" + text
    return child[0] + text + nested if text or nested else ""


def _take_extensions(children: list[Any]) -> list[Any]:
    """User extensions inside a standard field (not at event level: those come last)."""
    if len(children) <= 1 or any("eventTime" in c[0] or "action" in c[0] for c in children):
        return []
    extensions = [c for c in children if isinstance(c, tuple) and "{" in c[0] and "/}" in c[0]]
    for extension in extensions:
        children.remove(extension)
    return extensions


def _generic(children: list[Any]) -> str:
    values = []
    for child in children:
        if isinstance(child, tuple) and isinstance(child[0], tuple):  # a (type, value) pair
            values.append(_generic(list(child)))
        else:
            text = child[1].strip()
            if text:
                text = "=" + _canonical(text)
            values.append(child[0] + text + _generic(child[2]))
    if len(children) > 1 and not any(child[0] in UNSORTED_KEYS for child in children):
        values.sort()
    return "".join(values)


def _canonical(text: str) -> str:
    # The same values recur in every event of a document (EPC classes, locations, CBV
    # terms); short ones are remembered.
    return _canonical_cached(text) if len(text) <= 300 else _canonical_text(text)


def _canonical_text(text: str) -> str:
    for urn, web in vocab.LEGACY_URNS.items():
        text = text.replace(urn, web)
    text = _number(text)
    return digital_link.normalise(text) or text


def _number(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    try:
        return str(int(number)) if int(number) == number else str(number)
    except (OverflowError, ValueError):  # inf, nan
        return str(number)


def _timestamp(text: str) -> str:
    """UTC with millisecond precision and "Z"; unparseable text unchanged."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.astimezone()  # as the reference: a naive time is local time
    moment = moment.astimezone(UTC)
    rounded = round(moment.microsecond, -3)
    moment = moment.replace(microsecond=0) + timedelta(microseconds=rounded)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


_canonical_cached = lru_cache(maxsize=4096)(_canonical_text)

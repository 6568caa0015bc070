"""EPCIS XML capture documents (2.0 and 1.2) read safely, validated against the official XSDs and
converted to the EPCIS 2.0 JSON form capture checks and stores, so that the same events give the
same event hash ids whichever binding brought them.

Safety: lxml with entity resolution, DTD loading and network access off; a document with an
external DTD or any declaration in an internal one (entities: XXE, billion laughs) is refused
before anything else. `<!DOCTYPE x>` alone (GS1's examples carry one) declares nothing and is
allowed. The XSDs are read from the configured directory (`Settings.shared_dir`,
`data/epcis/xsd/{2.0,1.2}`), never over the network.

Conversion follows the JSON binding: list members become JSON arrays (`epcList`), quantity
elements objects with numbers, bizTransaction/source/destination objects with `type`, sensor
metadata and report attributes properties (numbers and booleans typed), the 1.x/2.0 wrapper
elements `extension` and `baseExtension` are dissolved into their parents, every namespaced
element or attribute is a user extension named `prefix:local` with its prefix declared in the
document's `@context`. 1.2 documents are upgraded: the same, plus CBV URNs
(`urn:epcglobal:cbv:bizstep:shipping`) become the CBV 2.0 terms (`shipping`), unknown terms the
CBV 2.0 web URI (`https://ref.gs1.org/cbv/BizStep-...`, accepted with a warning).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from linli.trace import vocab
from linli.trace.capture_checks import CaptureRefused, Problem

EPCIS_2 = "urn:epcglobal:epcis:xsd:2"
EPCIS_1 = "urn:epcglobal:epcis:xsd:1"
MASTER_DATA_2 = "urn:epcglobal:epcis-masterdata:xsd:2"
MASTER_DATA_1 = "urn:epcglobal:epcis-masterdata:xsd:1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# root namespace -> (folder, XSD, root element)
XSD_FILES = {
    EPCIS_2: ("2.0", "EPCglobal-epcis-2_0.xsd", "EPCISDocument"),
    EPCIS_1: ("1.2", "EPCglobal-epcis-1_2.xsd", "EPCISDocument"),
    MASTER_DATA_2: ("2.0", "EPCglobal-epcis-masterdata-2_0.xsd", "EPCISMasterDataDocument"),
    MASTER_DATA_1: ("1.2", "EPCglobal-epcis-masterdata-1_2.xsd", "EPCISMasterDataDocument"),
}
XML_TYPES = ("application/xml", "text/xml")
CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
_WRAPPERS = ("extension", "baseExtension")
_EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_PARTIES = {"bizTransactionList": "bizTransaction", "sourceList": "source"}
_PARTIES["destinationList"] = "destination"
_TEXT_FIELDS = (
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "parentID",
    "action",
    "bizStep",
    "disposition",
    "transformationID",
)
# CBV-valued fields and their vocabulary (vocab.vocabularies)
_CBV_FIELDS = {"bizStep": "bizStep", "disposition": "disposition"}
_SENSOR_VOCABULARY = {
    "type": "sensorType",
    "exception": "sensorException",
    "component": "component",
}
_NUMBERS = ("value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue")


_NO_DTD = "DTDs and entity declarations are not allowed in EPCIS XML"
# `<!ENTITY` in the encodings an XML document may declare itself in (a document in another
# encoding is still checked after parsing, below)
_ENTITY_MARKERS = tuple("<!ENTITY".encode(e) for e in ("utf-8", "utf-16-le", "utf-16-be"))


def _refuse(field: str, reason: str) -> CaptureRefused:
    return CaptureRefused(Problem(field, reason[:300]))


@cache
def _schema(directory: str, namespace: str) -> etree.XMLSchema:
    folder, entry, _root = XSD_FILES[namespace]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(Path(directory) / folder / entry), parser))


def xsd_available(directory: Path | None) -> bool:
    return directory is not None and all(
        (directory / folder / entry).is_file() for folder, entry, _root in XSD_FILES.values()
    )


def parse(body: bytes, xsd_dir: Path) -> dict[str, Any]:
    """The XML capture document as an EPCIS 2.0 JSON document; CaptureRefused naming the element
    (or the line) when it is not well-formed, declares a DTD or entities, or is invalid."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    if any(marker in body for marker in _ENTITY_MARKERS):  # before libxml2 reads them
        raise _refuse("$", _NO_DTD)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        raise _refuse("$", f"not well-formed XML: {error.msg}") from None
    docinfo = root.getroottree().docinfo
    dtd = docinfo.internalDTD
    declares = dtd is not None and (
        any(True for _ in dtd.iterelements()) or any(True for _ in dtd.iterentities())
    )
    if docinfo.system_url or docinfo.public_id or declares:
        raise _refuse("$", _NO_DTD)
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise _refuse("$", "entity references are not allowed in EPCIS XML")
    namespace = etree.QName(root).namespace
    if namespace not in XSD_FILES or etree.QName(root).localname != XSD_FILES[namespace][2]:
        raise _refuse(
            "$",
            "the root element must be an EPCIS 2.0 or 1.2 EPCISDocument (namespace "
            f"{EPCIS_2} or {EPCIS_1}) or EPCISMasterDataDocument",
        )
    schema = _schema(str(xsd_dir), namespace)
    if not schema.validate(root):
        first = schema.error_log[0]
        raise _refuse(first.path or "$", f"line {first.line}: {first.message}")
    # A master data document carries no events: validated, and captured as none (Linli
    # keeps no master data yet: docs/trace.md, conformance).
    return _Converter(upgrade=namespace in (EPCIS_1, MASTER_DATA_1)).document(root)


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _is_standard(element: Any) -> bool:
    """Unqualified elements are the standard's (EPCIS puts no namespace on its fields)."""
    return not etree.QName(element).namespace


def _children(element: Any) -> list[Any]:
    """Child elements, with the `extension` / `baseExtension` wrappers dissolved."""
    found: list[Any] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if _is_standard(child) and _local(child) in _WRAPPERS:
            found.extend(_children(child))
        else:
            found.append(child)
    return found


def _text(element: Any) -> str:
    return (element.text or "").strip()


def _number(text: str) -> int | float | str:
    try:
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        return text


class _Converter:
    def __init__(self, *, upgrade: bool) -> None:
        self.upgrade = upgrade
        self.prefixes: dict[str, str] = {}  # prefix -> namespace, for @context
        self.by_namespace: dict[str, str] = {}

    def document(self, root: Any) -> dict[str, Any]:
        events: list[dict[str, Any]] = []
        for part in _children(root):
            if _local(part) == "EPCISBody":
                for listed in _children(part):
                    if _local(listed) == "EventList":
                        events.extend(self.event(e) for e in _children(listed))
        document: dict[str, Any] = {
            "@context": [
                CONTEXT,
                *([dict(sorted(self.prefixes.items()))] if self.prefixes else []),
            ],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": root.get("creationDate"),
            "epcisBody": {"eventList": events},
        }
        return document

    def name(self, qualified: str) -> str:
        """`prefix:local` for a namespaced element or attribute name (Clark notation)."""
        name = etree.QName(qualified)
        namespace, local = name.namespace, name.localname
        if not namespace:
            return str(local)
        prefix = self.by_namespace.get(namespace)
        if prefix is None:
            prefix = f"ns{len(self.by_namespace) + 1}"
            self.by_namespace[namespace] = prefix
            self.prefixes[prefix] = namespace
        return f"{prefix}:{local}"

    def learn_prefixes(self, element: Any) -> None:
        """Keep the document's own prefixes where they are unambiguous."""
        for prefix, namespace in element.nsmap.items():
            if (
                prefix
                and namespace not in self.by_namespace
                and prefix not in self.prefixes
                and namespace not in (EPCIS_1, EPCIS_2)
            ):
                self.by_namespace[namespace] = prefix
                self.prefixes[prefix] = namespace

    def cbv(self, vocabulary: str, value: str) -> str:
        """CBV 1.x URNs (and 2.0 web URIs, compact IRIs) of CBV terms as the bare term; an
        unknown term of a CBV URN as its CBV 2.0 web URI."""
        web = vocab.expand(vocabulary, value)
        if web is not None:
            bare = {uri: word for word, uri in vocab.vocabularies()[vocabulary].items()}
            return bare.get(web, web)
        for urn, prefix in vocab.LEGACY_URNS.items():
            if value.startswith(urn):
                return prefix + value[len(urn) :]
        return value  # a compact IRI (`gs1:...`) stays one: the JSON schema refuses the
        # GS1 web URIs of terms it does not list

    def event(self, element: Any) -> dict[str, Any]:
        kind = _local(element)
        if not _is_standard(element) or kind not in EVENT_TYPES:
            raise _refuse(
                f"EventList.{kind}",
                "QuantityEvent was removed in EPCIS 2.0"
                if kind == "QuantityEvent"
                else "not an EPCIS event type",
            )
        self.learn_prefixes(element)
        event: dict[str, Any] = {"type": kind}
        for child in _children(element):
            self.field(event, child)
        return event

    def field(self, event: dict[str, Any], child: Any) -> None:
        if not _is_standard(child):
            self.extension(event, child)
            return
        name = _local(child)
        if name in _EPC_LISTS:
            event[name] = [_text(e) for e in _children(child)]
        elif name in _QUANTITY_LISTS:
            event[name] = [self.quantity(q) for q in _children(child)]
        elif name in _PARTIES:
            event[name] = [self.party(name, p) for p in _children(child)]
        elif name in ("readPoint", "bizLocation"):
            event[name] = self.located(child)
        elif name == "persistentDisposition":
            disposition: dict[str, list[str]] = {}
            for part in _children(child):
                disposition.setdefault(_local(part), []).append(
                    self.cbv("disposition", _text(part))
                )
            event[name] = disposition
        elif name == "sensorElementList":
            event[name] = [self.sensor_element(s) for s in _children(child)]
        elif name == "ilmd":
            event[name] = self.object(child)
        elif name == "errorDeclaration":
            event[name] = self.error_declaration(child)
        elif name in _CBV_FIELDS:
            event[name] = self.cbv(_CBV_FIELDS[name], _text(child))
        elif name in _TEXT_FIELDS:
            event[name] = _text(child)
        else:  # the XSD admits no other unqualified element here
            event[name] = self.value(child)

    def quantity(self, element: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for part in _children(element):
            if part.get(f"{{{XSI}}}nil") in ("true", "1"):
                continue  # xsi:nil: absent (a quantity not known)
            text = _text(part)
            found[_local(part)] = _number(text) if _local(part) == "quantity" else text
        return found

    def party(self, listed: str, element: Any) -> dict[str, Any]:
        vocabulary = "bizTransactionType" if listed == "bizTransactionList" else "sourceDestType"
        found: dict[str, Any] = {}
        kind = element.get("type")
        if kind is not None:
            found["type"] = self.cbv(vocabulary, kind.strip())
        found[_PARTIES[listed]] = _text(element)
        return found

    def located(self, element: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for part in _children(element):
            if _is_standard(part) and _local(part) == "id":
                found["id"] = _text(part)
            else:
                self.extension(found, part)
        return found

    def error_declaration(self, element: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for part in _children(element):
            name = _local(part)
            if not _is_standard(part):
                self.extension(found, part)
            elif name == "correctiveEventIDs":
                found[name] = [_text(e) for e in _children(part)]
            elif name == "reason":
                found[name] = self.cbv("errorReason", _text(part))
            else:
                found[name] = _text(part)
        return found

    def sensor_element(self, element: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for part in _children(element):
            name = _local(part)
            if not _is_standard(part):
                self.extension(found, part)
            elif name == "sensorMetadata":
                found[name] = self.attributes(part, "sensorMetadata")
            elif name == "sensorReport":
                found.setdefault(name, []).append(self.attributes(part, "sensorReport"))
        return found

    def attributes(self, element: Any, kind: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, raw in element.items():
            name = self.name(key)
            value: Any = raw.strip()
            if kind == "sensorReport" and name in _NUMBERS:
                value = _number(value)
            elif kind == "sensorReport" and name == "booleanValue":
                value = value in ("true", "1")
            elif kind == "sensorReport" and name in _SENSOR_VOCABULARY:
                value = self.cbv(_SENSOR_VOCABULARY[name], value)
            found[name] = value
        return found

    def extension(self, target: dict[str, Any], element: Any) -> None:
        self.learn_prefixes(element)
        name = self.name(element.tag)
        value = self.value(element)
        if name in target:
            existing = target[name]
            target[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[name] = value

    def object(self, element: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, raw in element.items():
            if etree.QName(key).namespace != XSI:
                found[self.name(key)] = raw
        for part in _children(element):
            self.extension(found, part)
        return found

    def value(self, element: Any) -> Any:
        """An extension element's value: its text, or an object of its attributes and
        children (repeated children as a list). xsi:type annotations are not data."""
        parts = _children(element)
        attributes = [
            k
            for k in element.keys()  # noqa: SIM118 (lxml attributes)
            if etree.QName(k).namespace != XSI
        ]
        if not parts and not attributes:
            return _text(element)
        found = self.object(element)
        if _text(element):
            found["@value"] = _text(element)
        return found


# ---------------------------------------------------------------------------------------------
# Query results as EPCIS 2.0 XML (`Accept: application/xml`): the stored JSON events written
# back in the XML binding, elements in the order of the 2.0 XSD.

EPCIS_QUERY_2 = "urn:epcglobal:epcis-query:xsd:2"
_COMPACT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*:[^/:]\S*")
LINLI_NAMESPACE = "urn:linli:epcis:"  # `linli:ilmd` (normalise_event)
_BASE_ORDER = (
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
)
_TAIL = ("sourceList", "destinationList", "sensorElementList", "persistentDisposition")
_WHERE = ("bizStep", "disposition", "readPoint", "bizLocation")
_ORDER = {
    "ObjectEvent": (
        "epcList",
        "action",
        *_WHERE,
        "bizTransactionList",
        "quantityList",
        *_TAIL,
        "ilmd",
    ),
    "AggregationEvent": (
        "parentID",
        "childEPCs",
        "action",
        *_WHERE,
        "bizTransactionList",
        "childQuantityList",
        *_TAIL,
    ),
    "TransactionEvent": (
        "bizTransactionList",
        "parentID",
        "epcList",
        "action",
        *_WHERE,
        "quantityList",
        *_TAIL,
    ),
    "TransformationEvent": (
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        *_WHERE,
        "bizTransactionList",
        *_TAIL,
        "ilmd",
    ),
    "AssociationEvent": (
        "parentID",
        "childEPCs",
        "childQuantityList",
        "action",
        *_WHERE,
        "bizTransactionList",
        *_TAIL,
    ),
}
_REQUIRED_LISTS = {"ObjectEvent": "epcList", "AggregationEvent": "childEPCs"}
_REQUIRED_LISTS["TransactionEvent"] = "epcList"
# CBV vocabulary -> the EPCIS 1.x URN prefix the XML binding writes its terms with
_URN_OF = {web: urn for urn, web in vocab.LEGACY_URNS.items()}


class _Writer:
    def __init__(self, context: Any) -> None:
        self.namespaces = {"linli": LINLI_NAMESPACE}
        parts = context if isinstance(context, list) else [context]
        for part in parts:
            if isinstance(part, dict):
                for prefix, iri in part.items():
                    if isinstance(iri, str) and not prefix.startswith("@"):
                        self.namespaces[prefix] = iri

    def qname(self, key: str) -> str | None:
        """Clark notation of an extension field's name; None for a name XML cannot carry."""
        if _COMPACT.fullmatch(key):
            prefix, local = key.split(":", 1)
            if prefix in self.namespaces:
                return self._valid(f"{{{self.namespaces[prefix]}}}{local}")
        cut = max(key.rfind("/"), key.rfind("#"), key.rfind(":"))
        if cut > 0 and ":" in key[:cut]:
            return self._valid(f"{{{key[: cut + 1]}}}{key[cut + 1 :]}")
        return self._valid(key)

    @staticmethod
    def _valid(name: str) -> str | None:
        try:
            etree.QName(name)
        except ValueError:
            return None
        return name

    def cbv(self, vocabulary: str, value: str) -> str:
        web = vocab.expand(vocabulary, value)
        if web is None:
            return value
        for prefix, urn in _URN_OF.items():
            if web.startswith(prefix):
                return urn + web[len(prefix) :]
        return web

    def event(self, parent: Any, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        element = etree.SubElement(parent, kind)
        order = (*_BASE_ORDER, *_ORDER.get(kind, ()))
        required = _REQUIRED_LISTS.get(kind)
        if required and required not in event:
            event = {**event, required: []}
        for name in order:
            if name in event:
                self.field(element, name, event[name])
        ilmd = event.get("linli:ilmd")
        for key, value in event.items():
            # `id` is JSON-LD's node id of the event, not data of the XML binding
            if key not in order and key not in ("type", "id", "@context", "linli:ilmd"):
                self.extension(element, key, value)
        if isinstance(ilmd, dict):
            self.extension(element, "linli:ilmd", ilmd)

    def field(self, element: Any, name: str, value: Any) -> None:
        child = etree.SubElement(element, name)
        if name in _EPC_LISTS:
            for epc in value:
                etree.SubElement(child, "epc").text = str(epc)
        elif name in _QUANTITY_LISTS:
            for quantity in value:
                item = etree.SubElement(child, "quantityElement")
                for part in ("epcClass", "quantity", "uom"):
                    if part in quantity:
                        etree.SubElement(item, part).text = _scalar(quantity[part])
        elif name in _PARTIES:
            kind = "bizTransactionType" if name == "bizTransactionList" else "sourceDestType"
            for party in value:
                item = etree.SubElement(child, _PARTIES[name], nsmap=None)
                item.text = str(party.get(_PARTIES[name], ""))
                if "type" in party:
                    item.set("type", self.cbv(kind, str(party["type"])))
        elif name in ("readPoint", "bizLocation"):
            etree.SubElement(child, "id").text = str(value.get("id", ""))
            for key, item in value.items():
                if key != "id":
                    self.extension(child, key, item)
        elif name == "persistentDisposition":
            for part in ("unset", "set"):
                for term in value.get(part, []):
                    etree.SubElement(child, part).text = self.cbv("disposition", str(term))
        elif name == "sensorElementList":
            for sensor in value:
                self.sensor(child, sensor)
        elif name == "ilmd":
            for key, item in value.items():
                self.extension(child, key, item)
        elif name == "errorDeclaration":
            for part in ("declarationTime", "reason"):
                if part in value:
                    text = str(value[part])
                    etree.SubElement(child, part).text = (
                        self.cbv("errorReason", text) if part == "reason" else text
                    )
            if "correctiveEventIDs" in value:
                ids = etree.SubElement(child, "correctiveEventIDs")
                for event_id in value["correctiveEventIDs"]:
                    etree.SubElement(ids, "correctiveEventID").text = str(event_id)
            for key, item in value.items():
                if key not in ("declarationTime", "reason", "correctiveEventIDs"):
                    self.extension(child, key, item)
        elif name in _CBV_FIELDS:
            child.text = self.cbv(_CBV_FIELDS[name], str(value))
        else:
            child.text = _scalar(value)

    def sensor(self, parent: Any, sensor: dict[str, Any]) -> None:
        element = etree.SubElement(parent, "sensorElement")
        if isinstance(sensor.get("sensorMetadata"), dict):
            self.attributes(etree.SubElement(element, "sensorMetadata"), sensor["sensorMetadata"])
        for report in sensor.get("sensorReport", []):
            self.attributes(etree.SubElement(element, "sensorReport"), report, report=True)
        for key, item in sensor.items():
            if key not in ("sensorMetadata", "sensorReport", "type", "id"):
                self.extension(element, key, item)

    def attributes(self, element: Any, values: dict[str, Any], *, report: bool = False) -> None:
        for key, value in values.items():
            name = self.qname(key)
            if name is None or isinstance(value, dict | list):
                continue
            text = _scalar(value)
            if report and key in _SENSOR_VOCABULARY:
                text = self.cbv_compact(_SENSOR_VOCABULARY[key], text)
            element.set(name, text)

    def cbv_compact(self, vocabulary: str, value: str) -> str:
        """Sensor vocabulary terms as GS1's XML writes them (`gs1:Temperature`)."""
        web = vocab.expand(vocabulary, value)
        for prefix, base in vocab.PREFIXES.items():
            if web is not None and web.startswith(base):
                return f"{prefix}:{web[len(base) :]}"
        return value

    def extension(self, parent: Any, key: str, value: Any) -> None:
        name = self.qname(key)
        if name is None:
            return
        for item in value if isinstance(value, list) else [value]:
            child = etree.SubElement(parent, name)
            if isinstance(item, dict):
                for sub, sub_value in item.items():
                    if sub == "@value":
                        child.text = _scalar(sub_value)
                    else:
                        self.extension(child, sub, sub_value)
            else:
                child.text = _scalar(item)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def query_document_xml(document: dict[str, Any]) -> bytes:
    """An EPCISQueryDocument (queries.query_document) in the EPCIS 2.0 XML binding."""
    root = etree.Element(
        f"{{{EPCIS_QUERY_2}}}EPCISQueryDocument",
        nsmap={"epcisq": EPCIS_QUERY_2, "epcis": EPCIS_2},
        schemaVersion="2.0",
        creationDate=str(document["creationDate"]),
    )
    body = etree.SubElement(root, "EPCISBody")
    results = etree.SubElement(body, f"{{{EPCIS_QUERY_2}}}QueryResults")
    found = document["epcisBody"]["queryResults"]
    etree.SubElement(results, "queryName").text = str(found["queryName"])
    events = etree.SubElement(etree.SubElement(results, "resultsBody"), "EventList")
    for event in found["resultsBody"]["eventList"]:
        _Writer(event.get("@context")).event(events, event)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

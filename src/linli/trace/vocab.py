"""CBV 2.0 vocabularies, read from the vendored EPCIS 2.0 JSON-LD context.

A field that takes a CBV value (bizStep, disposition, ...) accepts the bare word (`shipping`),
the web URI (`https://ref.gs1.org/cbv/BizStep-shipping`), the compact IRI (`cbv:BizStep-...`)
and the EPCIS 1.x URN (`urn:epcglobal:cbv:bizstep:shipping`). Any other absolute URI or
compact IRI is user vocabulary: accepted, with a warning on the capture job (`judge`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
PREFIXES = {"cbv": CBV, "gs1": GS1_VOC}
# EPCIS 1.x URNs of CBV values and their CBV 2.0 web URI prefixes.
LEGACY_URNS = {
    "urn:epcglobal:cbv:bizstep:": CBV + "BizStep-",
    "urn:epcglobal:cbv:disp:": CBV + "Disp-",
    "urn:epcglobal:cbv:btt:": CBV + "BTT-",
    "urn:epcglobal:cbv:sdt:": CBV + "SDT-",
    "urn:epcglobal:cbv:er:": CBV + "ER-",
}


def schema_file(name: str) -> Any:
    return resources.files("linli.trace").joinpath("schema", name)


@cache
def context() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_file("epcis-context.jsonld").read_text("utf-8"))
    return data["@context"]  # type: ignore[no-any-return]


def _words(definition: Any) -> dict[str, str]:
    """The term -> IRI map of a scoped context (one dict, or a list of them)."""
    scoped = definition.get("@context", {}) if isinstance(definition, dict) else {}
    parts = scoped if isinstance(scoped, list) else [scoped]
    words: dict[str, str] = {}
    for part in parts:
        for word, iri in part.items():
            if isinstance(iri, str) and ":" in iri and not word.startswith("@"):
                prefix, rest = iri.split(":", 1)
                if prefix in PREFIXES:
                    words[word] = PREFIXES[prefix] + rest
    return words


@cache
def vocabularies() -> dict[str, dict[str, str]]:
    """Vocabulary name -> {bare word: web URI}, for every CBV-valued field."""
    ctx = context()
    sensor = ctx["sensorElementList"]["@context"]["sensorReport"]["@context"]
    dispositions = _words(ctx["disposition"])
    return {
        "bizStep": _words(ctx["bizStep"]),
        "disposition": dispositions,
        "persistentDisposition": dispositions,
        "bizTransactionType": _words(ctx["bizTransactionList"]["@context"]["type"]),
        "sourceDestType": _words(ctx["sourceList"]["@context"]["type"]),
        "sensorType": _words(sensor["type"]),
        "sensorException": _words(sensor["exception"]),
        "component": _words(sensor["component"]),
        "errorReason": _words(ctx["errorDeclaration"]["@context"]["reason"]),
    }


# (parent key, key) -> vocabulary; "" is the event itself.
FIELD_VOCABULARY = {
    ("", "bizStep"): "bizStep",
    ("", "disposition"): "disposition",
    ("persistentDisposition", "set"): "persistentDisposition",
    ("persistentDisposition", "unset"): "persistentDisposition",
    ("bizTransactionList", "type"): "bizTransactionType",
    ("sourceList", "type"): "sourceDestType",
    ("destinationList", "type"): "sourceDestType",
    ("sensorReport", "type"): "sensorType",
    ("sensorReport", "exception"): "sensorException",
    ("sensorReport", "component"): "component",
    ("errorDeclaration", "reason"): "errorReason",
}


def expand(vocabulary: str, value: str) -> str | None:
    """The web URI of `value` in `vocabulary`; None when it is not a CBV value (an extension
    URI, or an unknown word: see `problem`)."""
    words = vocabularies()[vocabulary]
    if value in words:
        return words[value]
    for urn, web in LEGACY_URNS.items():
        if value.startswith(urn):
            value = web + value[len(urn) :]
    prefix, _, rest = value.partition(":")
    if prefix in PREFIXES:
        value = PREFIXES[prefix] + rest
    return value if value in words.values() else None


def looks_cbv(value: str) -> bool:
    """Whether `value` is in a CBV or GS1 namespace (or an EPCIS 1.x CBV URN)."""
    return value.startswith((CBV, GS1_VOC, "cbv:", "gs1:")) or any(
        value.startswith(urn) for urn in LEGACY_URNS
    )


def judge(vocabulary: str, value: str) -> tuple[bool, str] | None:
    """None when `value` is a CBV term of `vocabulary`; else (refused, reason).

    The standard's rule for CBV-valued fields: a CBV term, or any other absolute URI or
    compact IRI (user vocabulary). A bare word that is not a CBV term is neither, and is
    refused; a URI (or compact IRI) in the CBV namespace with a term CBV 2.0 does not define
    is accepted as user vocabulary with a warning (GS1's lists grow), as is any other URI."""
    if expand(vocabulary, value) is not None:
        return None
    if ":" not in value:
        return True, "unknown CBV value"
    if looks_cbv(value):
        return False, "not a CBV 2.0 term (accepted as user vocabulary)"
    return False, "user vocabulary, not a CBV term"

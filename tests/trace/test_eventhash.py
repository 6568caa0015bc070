"""Our CBV 2.0 event hash ids equal those of the reference implementation
(`epcis-event-hash-generator` 1.9.3) for every event of every standard example."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

from linli.trace import digital_link, eventhash
from tests.trace.epcis_data import CONTEXT_PATH, EPCIS_DIR, EXAMPLES, load

pytestmark = pytest.mark.database_free


def _offline_context_loader(url: str, options: Any = None) -> dict[str, Any]:
    # The examples name the GS1 context by URL; the reference would fetch it. Serve the
    # EPCIS 2.0 context from ../shared instead (no network in tests).
    if "gs1" in url and "context" in url:
        document = json.loads(CONTEXT_PATH.read_text("utf-8"))
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": document,
        }
    raise jsonld.JsonLdError("offline", "jsonld.LoadDocumentError", code="loading document failed")


NO_TYPE = "urn:linli:test:no-type"


def reference_hash_ids(document: dict[str, Any]) -> list[str]:
    """The reference package's hash ids, with three of its quirks neutralised (see below)."""
    document = copy.deepcopy(document)
    # 1. It keeps the namespace prefixes of every document it has seen in a module global,
    #    so a prefix declared by an earlier example leaks into later ones: start clean.
    json_to_py._namespaces.clear()
    # 2. It crashes (TypeError) on @context term definitions (`{"@type": "@id"}` values);
    #    they are not namespace prefixes, which is all it reads from @context: drop them.
    context = document.get("@context")
    if isinstance(context, list):
        document["@context"] = [
            part
            if not isinstance(part, dict)
            else {k: v for k, v in part.items() if isinstance(v, str)}
            for part in context
        ]
    # 3. It drops (logs and skips) every event with a bizTransaction, source or destination
    #    that has no type (IndexError on the missing pair member). The CBV omits absent fields
    #    from the pre-hash string, so: give those a placeholder type, then cut it out again.
    for event in eventhash.document_events(document):
        for list_name in ("bizTransactionList", "sourceList", "destinationList"):
            members = event.get(list_name, [])
            for member in members if isinstance(members, list) else [members]:
                member.setdefault("type", NO_TYPE)
    jsonld.set_document_loader(_offline_context_loader)
    events = json_to_py.event_list_from_epcis_document_json(document)
    pre_hashes = hash_generator.derive_prehashes_from_events(events)
    pre_hashes = [p.replace(f"type={NO_TYPE}", "") for p in pre_hashes]
    return list(hash_generator.calculate_hashes_from_pre_hashes(pre_hashes))


def test_the_examples_are_there() -> None:
    assert len(EXAMPLES) >= 40, f"no EPCIS examples under {EPCIS_DIR} (set LINLI_SHARED_DIR)"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_hash_ids_equal_the_reference(path: Path) -> None:
    document = load(path)
    ours = eventhash.document_hash_ids(document)
    reference = reference_hash_ids(document)
    assert len(ours) == len(eventhash.document_events(document)) >= 1
    assert ours == reference


def test_the_hash_ignores_event_id_record_time_and_key_order() -> None:
    event = load(EXAMPLES[0])["epcisBody"]["eventList"][0]
    shuffled = dict(reversed(list(event.items())))
    shuffled["eventID"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    shuffled["recordTime"] = "2030-01-01T00:00:00Z"
    assert eventhash.event_hash_id(shuffled) == eventhash.event_hash_id(event)
    changed = {**event, "eventTime": "2001-01-01T00:00:00Z"}
    assert eventhash.event_hash_id(changed) != eventhash.event_hash_id(event)


def test_bare_cbv_words_hash_like_their_web_uris() -> None:
    base = {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T08:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [],
        "action": "OBSERVE",
    }
    bare = eventhash.event_hash_id({**base, "bizStep": "shipping"})
    full = eventhash.event_hash_id({**base, "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping"})
    legacy = eventhash.event_hash_id({**base, "bizStep": "urn:epcglobal:cbv:bizstep:shipping"})
    assert bare == full == legacy


def test_epc_urns_and_digital_links_normalise_alike() -> None:
    assert digital_link.normalise("urn:epc:id:sgtin:0614141.107346.2017") == (
        "https://id.gs1.org/01/10614141073464/21/2017"
    )
    assert digital_link.normalise("urn:epc:class:lgtin:4012345.012345.998877") == (
        "https://id.gs1.org/01/04012345123456/10/998877"
    )
    assert digital_link.normalise("https://example.com/gtin/614141073464/ser/2017?x=1") == (
        "https://id.gs1.org/01/00614141073464/21/2017"
    )
    assert digital_link.normalise("urn:example:not-gs1.1") is None


def test_gtin_and_lot_from_lgtin_and_digital_link() -> None:
    assert digital_link.gtin_and_lot("urn:epc:class:lgtin:4012345.012345.LOT%2F7") == (
        "04012345123456",
        "LOT/7",
    )
    assert digital_link.gtin_and_lot("https://id.gs1.org/01/04012345123456/10/L42") == (
        "04012345123456",
        "L42",
    )
    assert digital_link.gtin_and_lot("https://id.gs1.org/01/04012345123456/21/9") is None
    assert digital_link.gtin_and_lot("urn:epc:id:sgtin:4012345.012345.9") is None

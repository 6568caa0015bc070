"""The identifiers an event names: EPCs and EPC classes as given and in their canonical form
(queries match them so), the (GTIN, lot) pairs among them, and the EPC class of a batch."""

from __future__ import annotations

from typing import Any

from linli.trace import digital_link
from linli.trace.models import EPC_CLASS, EPC_INSTANCE, TraceBatch

LINLI_BATCH = "urn:linli:batch:"


_EPC_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_CLASS_FIELDS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def batch_class(batch: TraceBatch) -> str:
    """The EPC class of a batch: its GS1 Digital Link when the product has a GTIN."""
    if batch.gtin:
        return f"{digital_link.ID_GS1}/01/{batch.gtin.zfill(14)}/10/{batch.lot}"
    return f"{LINLI_BATCH}{batch.code}"


def raw_epcs_of(event: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, value as given) of every EPC and EPC class the event names."""
    found: set[tuple[str, str]] = set()
    for name in _EPC_FIELDS:
        for epc in event.get(name) or []:
            if isinstance(epc, str):
                found.add((EPC_INSTANCE, epc))
    for name in _CLASS_FIELDS:
        for element in event.get(name) or []:
            if isinstance(element, dict) and isinstance(element.get("epcClass"), str):
                found.add((EPC_CLASS, element["epcClass"]))
    return found


def epcs_of(event: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, canonical value) of every EPC and EPC class, as queries match them."""
    return {(kind, canonical_epc(value)) for kind, value in raw_epcs_of(event)}


def canonical_epc(value: str) -> str:
    """EPC URNs and Digital Links compare as their canonical Digital Link."""
    return digital_link.normalise(value) or value


def lots_named(event: dict[str, Any]) -> set[tuple[str, str]]:
    raw = raw_epcs_of(event)
    return {gl for _kind, value in raw if (gl := digital_link.gtin_and_lot(value))}

"""A batch's journey as people read it: each event's step and disposition in words of the
reader's language, and its places by name (`trace.locations`).

Known CBV words are looked up in explicit vocabularies (every CBV 2.0 business step and
disposition has a label); anything else a capture brought is shown as it came, as plain text
that templates escape. Data never goes through `_()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from linli.i18n import N_, Message
from linli.trace.locations import Place, places
from linli.trace.models import TraceEvent

BIZ_STEPS: dict[str, str] = {
    "accepting": N_("Accepted"),
    "arriving": N_("Arrived at the pickup point"),
    "assembling": N_("Assembled"),
    "collecting": N_("Collected"),
    "commissioning": N_("Produced"),
    "consigning": N_("Consigned"),
    "creating_class_instance": N_("Made"),
    "cycle_counting": N_("Counted"),
    "decommissioning": N_("Taken out of use"),
    "departing": N_("Departed"),
    "destroying": N_("Destroyed"),
    "disassembling": N_("Taken apart"),
    "dispensing": N_("Dispensed"),
    "encoding": N_("Labelled"),
    "entering_exiting": N_("Entered or left"),
    "holding": N_("Held"),
    "inspecting": N_("Inspected"),
    "installing": N_("Installed"),
    "killing": N_("Codes cancelled"),
    "loading": N_("Loaded"),
    "other": N_("Other step"),
    "packing": N_("Packed"),
    "picking": N_("Picked"),
    "receiving": N_("Received"),
    "removing": N_("Removed"),
    "repackaging": N_("Repackaged"),
    "repairing": N_("Repaired"),
    "replacing": N_("Replaced"),
    "reserving": N_("Reserved"),
    "retail_selling": N_("Sold"),
    "sampling": N_("Sampled"),
    "sensor_reporting": N_("Temperature readings"),
    "shipping": N_("Shipped"),
    "staging_outbound": N_("Ready for dispatch"),
    "stock_taking": N_("Stock taken"),
    "stocking": N_("Put on the shelf"),
    "storing": N_("Stored"),
    "transporting": N_("In transport"),
    "unloading": N_("Unloaded"),
    "unpacking": N_("Unpacked"),
    "void_shipping": N_("Shipment cancelled"),
}
EVENT_KINDS: dict[str, str] = {
    "TransformationEvent": N_("Processed into new products"),
    "AggregationEvent": N_("Packed together"),
    "TransactionEvent": N_("Changed hands"),
    "AssociationEvent": N_("Associated"),
    "ObjectEvent": N_("Event"),
}
DISPOSITIONS: dict[str, str] = {
    "active": N_("active"),
    "available": N_("available"),
    "completeness_inferred": N_("complete (inferred)"),
    "completeness_verified": N_("complete (verified)"),
    "conformant": N_("conformant"),
    "container_closed": N_("container closed"),
    "container_open": N_("container open"),
    "damaged": N_("damaged"),
    "destroyed": N_("destroyed"),
    "dispensed": N_("dispensed"),
    "disposed": N_("disposed of"),
    "encoded": N_("labelled"),
    "expired": N_("expired"),
    "in_progress": N_("in progress"),
    "in_transit": N_("in transit"),
    "inactive": N_("inactive"),
    "mismatch_class": N_("wrong product"),
    "mismatch_instance": N_("wrong item"),
    "mismatch_quantity": N_("wrong quantity"),
    "needs_replacement": N_("needs replacement"),
    "no_pedigree_match": N_("origin not confirmed"),
    "non_conformant": N_("not conformant"),
    "non_sellable_other": N_("not for sale"),
    "partially_dispensed": N_("partly dispensed"),
    "recalled": N_("recalled"),
    "reserved": N_("reserved"),
    "retail_sold": N_("sold"),
    "returned": N_("returned"),
    "sellable_accessible": N_("on sale"),
    "sellable_not_accessible": N_("sellable, not yet on the shelf"),
    "stolen": N_("stolen"),
    "unavailable": N_("unavailable"),
    "unknown": N_("unknown"),
}


def bare(value: str | None) -> str | None:
    """The CBV word of a bizStep or disposition in any of its forms (URI, URN, compact)."""
    if not value:
        return None
    for marker in ("BizStep-", "Disp-", "bizstep:", "disp:"):
        if marker in value:
            return value.rsplit(marker, 1)[1]
    return value


def label(vocabulary: dict[str, str], word: str | None) -> Message | str | None:
    """The word's label (translated when shown) if the vocabulary knows it, else the word as
    it came, underscores as spaces (plain text, escaped when shown)."""
    if not word:
        return None
    if word in vocabulary:
        return Message(vocabulary[word])
    return word.replace("_", " ")


def step_of(event: TraceEvent) -> Message | str:
    if event.event_type in ("TransformationEvent", "AggregationEvent"):
        return Message(EVENT_KINDS[event.event_type])
    return (
        label(BIZ_STEPS, bare(event.biz_step))
        or label(EVENT_KINDS, event.event_type)
        or event.event_type
    )


@dataclass(frozen=True)
class JourneyStep:
    time: datetime
    step: Message | str
    disposition: Message | str | None
    read_point: Place | None
    location: Place | None  # None when it is the read point
    type: str
    correction: bool  # an error declaration: it declares an earlier record in error
    sensor: bool  # carries sensor readings
    declared_in_error: bool = False  # a later error declaration declared it in error


async def journey(session: AsyncSession, events: Sequence[TraceEvent]) -> list[JourneyStep]:
    """The events as journey steps, places resolved with one query per kind of place."""
    named = [
        (uri, event.organisation_id)
        for event in events
        for uri in (event.read_point, event.biz_location)
        if uri
    ]
    resolved = await places(session, named)
    declared = {(e.organisation_id, e.event_id) for e in events if e.is_correction}
    steps = []
    for event in events:
        read_point = (
            resolved[(event.read_point, event.organisation_id)] if event.read_point else None
        )
        location = (
            resolved[(event.biz_location, event.organisation_id)]
            if event.biz_location and event.biz_location != event.read_point
            else None
        )
        steps.append(
            JourneyStep(
                time=event.event_time,
                step=step_of(event),
                disposition=label(DISPOSITIONS, bare(event.disposition)),
                read_point=read_point,
                location=location,
                type=event.event_type,
                correction=event.is_correction,
                declared_in_error=not event.is_correction
                and (event.organisation_id, event.event_id) in declared,
                # `document` is canonical JSON: the key appears exactly like this, and only
                # as a key (quotes inside strings are escaped).
                sensor='"sensorElementList":' in event.document,
            )
        )
    return steps

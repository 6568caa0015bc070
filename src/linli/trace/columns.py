"""The queryable columns of a stored event, all derived from its document: storing, capture
checks and chain verification derive them the same way."""

from __future__ import annotations

from typing import Any

from linli.trace import capture_checks as checks
from linli.trace import vocab


def columns_of(event: dict[str, Any], hash_id: str) -> dict[str, Any]:
    """The queryable columns of an event, all derived from its document."""
    time = checks.parse_time(str(event.get("eventTime", "")))
    if time is None:
        raise ValueError("eventTime")
    return {
        "event_id": str(event.get("eventID") or hash_id),
        "event_type": event["type"],
        "action": event.get("action"),
        "event_time": time,
        "event_time_zone_offset": str(event.get("eventTimeZoneOffset", "+00:00")),
        "biz_step": _cbv(event, "bizStep"),
        "disposition": _cbv(event, "disposition"),
        "read_point": _location(event.get("readPoint")),
        "biz_location": _location(event.get("bizLocation")),
        "is_correction": "errorDeclaration" in event,
    }


def _cbv(event: dict[str, Any], name: str) -> str | None:
    value = event.get(name)
    if not isinstance(value, str):
        return None
    return vocab.expand(name, value) or value


def _location(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, dict) and "id" in value else None

"""The GS1 EPCIS reference data in ../shared/data/epcis (never copied into the project)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

EPCIS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "epcis"
EXAMPLES = sorted((EPCIS_DIR / "examples").glob("*.jsonld"))
SCHEMA_PATH = EPCIS_DIR / "EPCIS-JSON-Schema.json"
CONTEXT_PATH = EPCIS_DIR / "epcis-context.jsonld"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


@cache
def schema() -> dict[str, Any]:
    return load(SCHEMA_PATH)


def events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document["epcisBody"]
    return list(body["eventList"]) if "eventList" in body else [body["event"]]

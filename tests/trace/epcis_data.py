"""The GS1 EPCIS reference data in ../shared/data/epcis (never copied into the project)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any


def _shared_dir() -> Path:
    """LINLI_SHARED_DIR, else the `shared/` beside the checkout (or beside a folder above it,
    for a clone made inside another), else the workspace's own /work/shared."""
    if os.environ.get("LINLI_SHARED_DIR"):
        return Path(os.environ["LINLI_SHARED_DIR"])
    repo = Path(__file__).resolve().parents[2]
    for folder in (repo, *repo.parents):
        if (folder.parent / "shared" / "data" / "epcis").is_dir():
            return folder.parent / "shared"
    return Path("/work/shared")


SHARED_DIR = _shared_dir()
EPCIS_DIR = SHARED_DIR / "data" / "epcis"
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

"""Shared annotated types for route parameters, bounded so no input can overflow a column."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator, StringConstraints

MAX_ID = 2**63 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id")]
OptionalQueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageSize = Annotated[int, Query(ge=1, le=200)]


def nfkc(value: object) -> object:
    """Text in Unicode NFKC: full-width digits and letters become their ASCII forms, so what
    looks the same is stored the same. Patterns then require ASCII (`[0-9]`, never `\\d`, which
    also matches other scripts' digits)."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


# A 6-digit GB/T 2260 administrative division code, in ASCII digits after NFKC.
RegionCode = Annotated[
    str, BeforeValidator(nfkc), StringConstraints(pattern=r"^[0-9]{6}$", max_length=6)
]

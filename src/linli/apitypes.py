"""Shared annotated types for route parameters, bounded so no input can overflow a column."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id")]
OptionalQueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageSize = Annotated[int, Query(ge=1, le=200)]

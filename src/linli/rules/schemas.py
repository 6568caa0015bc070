"""Input for the rules an operator edits: the working-day overrides."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from linli.rules.workdays import DayKind
from linli.schemas import StrictInput

# A calendar override outside these dates is a typing slip.
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
Reason = Annotated[str, Field(min_length=1, max_length=200)]


class OverrideIn(StrictInput):
    """Make one date a holiday or a working day; `version` is the calendar version the operator
    was looking at (a concurrent edit makes it stale: 409)."""

    day: Day
    kind: DayKind
    reason: Reason
    version: int = Field(ge=1)


class OverrideRemoveIn(StrictInput):
    """Take an override out again (the date goes back to the package or Monday to Friday)."""

    day: Day
    reason: Reason
    version: int = Field(ge=1)

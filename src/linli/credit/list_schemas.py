"""Bodies of the lists-and-repair API (docs/credit.md "Lists and repair")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictBool

from linli.schemas import OutputModel, StrictInput

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class CreditRequestIn(StrictInput):
    """The merchant's statement: what it did to fulfil the decision's obligations."""

    statement: Text


class CreditDecisionIn(StrictInput):
    approve: StrictBool
    reasons: Text


class PenaltyOut(OutputModel):
    """A penalty as published with the merchant's public credit."""

    id: int
    case_id: int
    organisation_id: int
    authority: str  # the deciding regulator's name
    penalty_fen: int
    penalty: str  # ¥ with two decimals
    serious: bool
    legal_basis: str
    decided_at: datetime
    publish_until: datetime


class MyPenaltyOut(PenaltyOut):
    published: bool
    rectify_by: datetime | None
    fulfilled_at: datetime | None
    fulfilled_on_time: bool | None
    repaired_at: datetime | None
    repair_possible_from: datetime


class ListEntryOut(OutputModel):
    """A serious-dishonesty list entry as published."""

    id: int
    case_id: int
    organisation_id: int
    name: str
    authority: str
    legal_basis: str
    decided_at: datetime
    listed_at: datetime
    listed_until: datetime
    rule_id: str
    rule_version: int


class MyListEntryOut(ListEntryOut):
    listed: bool
    removable_from: datetime
    removed_at: datetime | None


class RedListOut(OutputModel):
    organisation_id: int
    name: str
    grade: str


class CreditRequestOut(OutputModel):
    id: int
    kind: str
    target_id: int
    case_id: int
    organisation_id: int
    organisation: str
    regulator_organisation_id: int
    status: str
    statement: str
    created_at: datetime
    rule_id: str
    rule_version: int
    decided_at: datetime | None
    reasons: str | None


class MyListsOut(OutputModel):
    penalties: list[MyPenaltyOut]
    entries: list[MyListEntryOut]
    requests: list[CreditRequestOut]

"""The credit API's contract: read-only bodies (no route writes credit)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query

from linli.schemas import OutputModel

# The public query's text: a name (part of one) or a credit code; no control characters (a NUL
# cannot even be sent to PostgreSQL).
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
SearchText = Annotated[
    str,
    Query(min_length=1, max_length=60, pattern=NO_CONTROLS, description="Name or credit code"),
]
PageSearchText = Annotated[str, Query(max_length=60, pattern=NO_CONTROLS)]


class CreditLineOut(OutputModel):
    kind: str
    weight: int
    count: int
    first: datetime
    last: datetime
    period_start: date
    factor: str  # exact, e.g. "1/4"
    exact: str  # weight x count x factor, exact, e.g. "-15/2"
    contribution: int  # its integer share: base + contributions + bound = score


class ExplanationOut(OutputModel):
    rule_id: str
    rule_version: int
    at: datetime
    base: int
    lines: list[CreditLineOut]
    bound: int
    score: int
    grade: str
    expired: int


class CreditRecordOut(OutputModel):
    id: int
    kind: str
    event_type: str
    event_id: str
    reference: str
    rule_id: str
    rule_version: int
    weight: int
    occurred_at: datetime


class MyCreditOut(OutputModel):
    subject_kind: str
    score: int
    grade: str
    records: int
    explanation: ExplanationOut
    recent: list[CreditRecordOut]


class LicenceOut(OutputModel):
    licence_type: str
    number: str
    valid_from: date
    valid_to: date


class PublicCreditOut(OutputModel):
    """What anyone may see of a verified merchant's credit (never a risk class)."""

    organisation_id: int
    name: str
    credit_code: str
    verified_at: datetime
    next_verification_due: datetime
    listings_paused: bool
    licences: list[LicenceOut]
    grade: str
    rule_version: int


class RiskRowOut(OutputModel):
    """Regulators only."""

    organisation_id: int
    name: str
    credit_code: str
    score: int
    grade: str
    risk_class: str
    by_credit: str
    high_risk_categories: list[str]
    supervision_records: int  # penalties, warnings, failed inspections within the rule's days
    sampling_percent: tuple[int, int]
    rule_id: str
    rule_version: int
